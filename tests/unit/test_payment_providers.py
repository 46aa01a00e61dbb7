from __future__ import annotations

from omniretail.payments.providers import PaymentStatus, SandboxProvider, builtin_providers


def test_in_person_tenders_are_captured_when_recorded() -> None:
    cash = builtin_providers("s")["cash"]
    assert cash.authorise(amount=100, currency="CNY", reference="o1", token=None).status is (
        PaymentStatus.CAPTURED
    )


def test_the_sandbox_is_pending_until_a_signed_callback() -> None:
    sandbox = SandboxProvider("secret")
    auth = sandbox.authorise(amount=100, currency="CNY", reference="o1", token="tok")
    assert auth.status is PaymentStatus.PENDING
    signature = sandbox.sign(auth.provider_ref, "captured", 100)
    assert sandbox.verify(auth.provider_ref, "captured", 100, signature)
    assert not sandbox.verify(auth.provider_ref, "captured", 101, signature)
    assert not SandboxProvider("other").verify(auth.provider_ref, "captured", 100, signature)
    declined = sandbox.authorise(amount=100, currency="CNY", reference="o2", token="decline")
    assert declined.status is PaymentStatus.DECLINED


def test_a_signature_with_foreign_characters_is_simply_wrong() -> None:
    sandbox = SandboxProvider("secret")
    assert not sandbox.verify("sbx:o1", "captured", 100, "k\u00ba\u00df")
    assert not sandbox.verify("\u009fh", "captured", 100, "0" * 64)
