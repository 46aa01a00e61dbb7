"""Connection credentials encrypted at rest with Fernet.

Keys come from ``OMNI_CONNECTOR_KEYS`` (comma-separated Fernet keys, newest first). Tokens
made with any listed key decrypt; new ones use the first. To rotate: put the new key first,
run ``omni connections rotate-keys`` (re-encrypts every connection), then drop the old key.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from omniretail.errors import Conflict


class VaultNotConfigured(Conflict):
    code = "connector_keys_missing"
    title = "No connector key is configured"


class CredentialVault:
    def __init__(self, keys: list[str]) -> None:
        self.keys = tuple(keys)  # for building a rotated vault; never logged
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @classmethod
    def from_setting(cls, value: str) -> CredentialVault:
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise VaultNotConfigured("set OMNI_CONNECTOR_KEYS to store platform credentials")
        return self._fernet

    def seal(self, credentials: dict[str, str]) -> str:
        return self._require().encrypt(json.dumps(credentials).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            opened: dict[str, Any] = json.loads(self._require().decrypt(token.encode()))
        except InvalidToken as exc:
            raise VaultNotConfigured("no configured key opens these credentials") from exc
        return opened

    def rotate(self, token: str) -> str:
        return self._require().rotate(token.encode()).decode()
