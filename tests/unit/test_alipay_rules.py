"""Alipay's signed content and amounts, checked against the worked example of Alipay's
"异步返回结果的验签" page (its notification and the string it says to verify)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from omniretail.app import alipay_provider
from omniretail.config import Settings
from omniretail.payments.alipay import (
    NOTIFY_UNSIGNED,
    AlipayProvider,
    NotificationRefused,
    fen_to_yuan,
    parse_notification,
    signed_content,
    yuan_to_fen,
)

# The notification of Alipay's example, as the form it is posted as (URL-encoded).
DOCS_NOTIFICATION = (
    b"total_amount=2.00&buyer_id=2088102116773037&body=%E5%A4%A7%E4%B9%90%E9%80%8F2.1"
    b"&trade_no=2016071921001003030200089909&refund_fee=0.00&notify_time=2016-07-19+14%3A10%3A49"
    b"&subject=%E5%A4%A7%E4%B9%90%E9%80%8F2.1&sign_type=RSA2&charset=utf-8"
    b"&notify_type=trade_status_sync&out_trade_no=0719141034-6418"
    b"&gmt_close=2016-07-19+14%3A10%3A46&gmt_payment=2016-07-19+14%3A10%3A47"
    b"&trade_status=TRADE_SUCCESS&version=1.0&sign=kPbQIjX%2BxQc8F0%2FA6%2FAocELIjhhZnGbcBN6G4MM"
    b"&gmt_create=2016-07-19+14%3A10%3A44&app_id=2015102700040153&seller_id=2088102119685838"
    b"&notify_id=4a91b7a78a503640467525113fb7d8bg8e"
)

# The string the page says is verified for it, verbatim (it leaves out gmt_create, which the
# notification carries and the SDK's rule, every non-empty parameter, includes).
DOCS_SIGNED = (
    "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8"
    "&gmt_close=2016-07-19 14:10:46&gmt_payment=2016-07-19 14:10:47"
    "&notify_id=4a91b7a78a503640467525113fb7d8bg8e"
    "&notify_time=2016-07-19 14:10:49&notify_type=trade_status_sync"
    "&out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838"
    "&subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909"
    "&trade_status=TRADE_SUCCESS&version=1.0"
)


def test_the_signed_content_of_the_docs_example_is_the_docs_string() -> None:
    params, charset = parse_notification(DOCS_NOTIFICATION)
    assert charset == "utf-8"
    expected = DOCS_SIGNED.replace(
        "&gmt_payment=", "&gmt_create=2016-07-19 14:10:44&gmt_payment=", 1
    )
    assert signed_content(params, leave_out=NOTIFY_UNSIGNED) == expected


def test_empty_values_sign_and_sign_type_are_left_out() -> None:
    params = {"b": "2", "a": "1", "empty": "", "sign": "x", "sign_type": "RSA2"}
    assert signed_content(params, leave_out=NOTIFY_UNSIGNED) == "a=1&b=2"


@pytest.mark.parametrize(
    ("text", "fen"),
    [("2.00", 200), ("0.01", 1), ("99.9", 9990), ("100", 10000), ("100000000.00", 10**10)],
)
def test_yuan_become_exact_fen(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize(
    "text",
    ["", "1e2", "-1.00", "+1.00", "1.001", " 1.00", "1.00 ", "\uff11.00", "01.00", "NaN", "1."],
)
def test_anything_but_plain_yuan_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        yuan_to_fen(text)


def test_fen_become_yuan_with_two_places() -> None:
    assert [fen_to_yuan(n) for n in (1, 10, 9900, 123456)] == ["0.01", "0.10", "99.00", "1234.56"]
    with pytest.raises(ValueError, match="positive"):
        fen_to_yuan(0)


def test_a_repeated_parameter_or_an_unknown_charset_is_refused() -> None:
    with pytest.raises(NotificationRefused, match="repeated"):
        parse_notification(b"out_trade_no=a&out_trade_no=b")
    with pytest.raises(NotificationRefused, match="charset"):
        parse_notification(b"charset=latin-1&out_trade_no=a")
    with pytest.raises(NotificationRefused, match="not utf-8"):
        parse_notification(b"subject=%FF%FE&charset=utf-8")
    with pytest.raises(NotificationRefused, match="form"):
        parse_notification("subject=大乐透".encode())  # a form body is URL-encoded ASCII


def test_a_refund_request_is_signed_over_everything_but_its_signature() -> None:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider = AlipayProvider(
        app_id="2015102700040153",
        alipay_public_key=rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        ).public_key(),
        merchant_private_key=merchant,
    )
    at = dt.datetime(2026, 11, 27, 2, 3, 4, tzinfo=dt.UTC)
    request = provider.refund_request(
        amount=1050, provider_ref="ali:ORD-1", request_no="R1", now=at
    )
    assert request["timestamp"] == "2026-11-27 10:03:04"  # Beijing time
    assert request["biz_content"] == (
        '{"out_trade_no":"ORD-1","refund_amount":"10.50","out_request_no":"R1"}'
    )
    content = signed_content(request, leave_out=frozenset({"sign"}))
    assert "sign_type=RSA2" in content
    merchant.public_key().verify(
        base64.b64decode(request["sign"]), content.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    with pytest.raises(ValueError, match="not an Alipay payment"):
        provider.refund_request(amount=1, provider_ref="wxp:ORD-1", request_no="R2", now=at)


def test_settings_give_a_provider_from_pem_or_bare_base64_keys() -> None:
    alipay_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_der = alipay_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_pem = merchant.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    settings = Settings(
        alipay_app_id="2015102700040153",
        alipay_public_key=base64.b64encode(public_der).decode(),
        alipay_merchant_private_key=SecretStr(private_pem),
    )
    provider = alipay_provider(settings)
    assert provider.app_id == "2015102700040153"
    assert private_pem not in repr(settings)
    with pytest.raises(ValueError, match="OMNI_ALIPAY_MERCHANT_PRIVATE_KEY"):
        alipay_provider(Settings(alipay_app_id="2015102700040153"))
