"""What a buyer's client needs to pay an order's online payment in WeChat Pay or Alipay."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from omniretail.schemas import Input, Output

PROVIDER_REF = "the payment's provider reference, as in the order's payments"


class WeChatPayJsapiIn(Input):
    openid: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")] = (
        Field(description="the buyer's openid under the configured appid (from wx.login)")
    )


class WeChatPayJsapiOut(Output):
    """The parameters ``wx.requestPayment`` takes, as WeChat names them."""

    provider_ref: str = Field(description=PROVIDER_REF)
    appId: str = Field(description="the mini-program's (or official account's) appid")
    timeStamp: str = Field(description="seconds since the epoch, as a string")
    nonceStr: str = Field(description="a random string, part of what paySign signs")
    package: str = Field(description="prepay_id=..., the order WeChat Pay placed")
    signType: str = Field(description="RSA (SHA256withRSA)")
    paySign: str = Field(
        description="base64 SHA256withRSA signature, with the merchant key, of "
        "appId, timeStamp, nonceStr and package, each followed by a newline"
    )


class AlipayAppOut(Output):
    provider_ref: str = Field(description=PROVIDER_REF)
    order_string: str = Field(
        description="the signed alipay.trade.app.pay order string the app hands to the "
        "Alipay SDK (URL-encoded parameters)"
    )


class AlipayQrOut(Output):
    provider_ref: str = Field(description=PROVIDER_REF)
    qr_code: str = Field(
        description="what to show as a QR code for the buyer to scan (alipay.trade.precreate)"
    )
