"""The API reference's worked example of the sandbox signature is the provider's own."""

from __future__ import annotations

import re
from pathlib import Path

from omniretail.payments.providers import SandboxProvider

REFERENCE = Path(__file__).parents[2] / "docs" / "api.md"


def test_the_documented_sandbox_signature_is_what_the_provider_computes() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    ref = re.search(r"REF='([^']+)'", text)
    documented = re.search(r"# SIG = ([0-9a-f]{64})", text)
    assert ref is not None
    assert documented is not None
    sandbox = SandboxProvider("example-secret")  # the secret the example names
    assert sandbox.sign(ref.group(1), "captured", 9900) == documented.group(1)
    assert sandbox.verify(ref.group(1), "captured", 9900, documented.group(1))
