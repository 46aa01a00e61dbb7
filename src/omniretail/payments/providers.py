"""The payment provider Protocol and the built-in providers. No I/O in the built-ins."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    PENDING = "pending"  # an online payment waiting for the provider's confirmation
    CAPTURED = "captured"
    DECLINED = "declined"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class Authorisation:
    status: PaymentStatus
    provider_ref: str
    message: str = ""


class PaymentProvider(Protocol):
    method: str
    online: bool  # True: the money is confirmed later by a callback
    in_person: bool  # True: taken at a counter (cash, card terminal), so in-store sales only
    # True: created only by the code path that owns it (an exchange's credit, a platform's own
    # collection), never named in a client's payments: naming it would be a free order.
    internal: bool

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation: ...

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation: ...


class InPersonProvider:
    """Cash or a card terminal at the POS: the POS has taken the money when it records it."""

    online = False
    in_person = True
    internal = False

    def __init__(self, method: str) -> None:
        self.method = method

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"{self.method}:{reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"refund:{provider_ref}")


# The test card that the sandbox always refuses (not a secret).
DECLINE_TOKEN = "decline"  # noqa: S105


class SandboxProvider:
    """A pretend online gateway for development and tests.

    ``token`` ``"decline"`` is refused at once; anything else is pending until a callback signed
    with the sandbox secret confirms (or fails) it, as real gateways notify asynchronously.
    With no secret configured no callback verifies, so sandbox payments stay pending.
    """

    method = "sandbox"
    online = True
    in_person = False
    internal = False

    def __init__(self, secret: str | None) -> None:
        self._secret = secret.encode() if secret else None

    @property
    def configured(self) -> bool:
        return self._secret is not None

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        if token == DECLINE_TOKEN:
            return Authorisation(PaymentStatus.DECLINED, f"sbx:{reference}", "card declined")
        return Authorisation(PaymentStatus.PENDING, f"sbx:{reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"refund:{provider_ref}")

    def sign(self, provider_ref: str, status: str, amount: int) -> str:
        if self._secret is None:
            raise ValueError("no sandbox secret is configured (OMNI_SANDBOX_PAYMENT_SECRET)")
        message = f"{provider_ref}|{status}|{amount}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, provider_ref: str, status: str, amount: int, signature: str) -> bool:
        if self._secret is None:
            return False
        if not (signature.isascii() and provider_ref.isascii() and status.isascii()):
            return False  # compare_digest refuses non-ASCII text; such a signature is wrong
        return hmac.compare_digest(self.sign(provider_ref, status, amount), signature)


class ExchangeCreditProvider:
    """The value of goods handed back in an exchange, paying for their replacement. Only the
    exchange use case creates it; it never reaches a gateway."""

    method = "exchange_credit"
    online = False
    in_person = False
    internal = True

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"credit:{reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"refund:{provider_ref}")


class PlatformProvider:
    """The platform (Douyin, Youzan, Xiaohongshu, WeChat) collected the money from the buyer
    and settles with the merchant itself. Only the channel connectors create it, for orders
    the platform reports as paid; refunds are the platform's to make, so ours are bookkeeping."""

    method = "platform"
    online = False
    in_person = False
    internal = True

    def authorise(
        self, *, amount: int, currency: str, reference: str, token: str | None
    ) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"platform:{token or reference}")

    def refund(self, *, amount: int, currency: str, provider_ref: str) -> Authorisation:
        return Authorisation(PaymentStatus.CAPTURED, f"refund:{provider_ref}")


def builtin_providers(sandbox_secret: str | None) -> dict[str, PaymentProvider]:
    return {
        "cash": InPersonProvider("cash"),
        "card_present": InPersonProvider("card_present"),
        "sandbox": SandboxProvider(sandbox_secret),
        "exchange_credit": ExchangeCreditProvider(),
        "platform": PlatformProvider(),
    }
