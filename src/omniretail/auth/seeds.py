"""TOTP seeds sealed at rest with Fernet.

Keys come from ``OMNI_STAFF_KEYS`` (comma-separated Fernet keys, newest first), as
``OMNI_CONNECTOR_KEYS`` does for connection credentials: a seed sealed with any listed key
opens; new seeds use the first. A database backup alone then gives no one a second factor.
To rotate: put the new key first; seeds sealed under an older key keep opening while it stays
listed (re-sealing them in bulk, as ``omni connections rotate-keys`` does, is not built yet)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from omniretail.errors import Conflict

SEALED_PREFIX = "gAAAAA"  # every Fernet token starts so; a base32 seed never does (lower case)


class StaffKeysMissing(Conflict):
    code = "staff_keys_missing"
    title = "No key is configured for TOTP seeds"


class SeedSealer:
    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @classmethod
    def from_setting(cls, value: str) -> SeedSealer:
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise StaffKeysMissing("set OMNI_STAFF_KEYS to use TOTP for staff users")
        return self._fernet

    def seal(self, seed: str) -> str:
        return self._require().encrypt(seed.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._require().decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise StaffKeysMissing("no configured key opens this TOTP seed") from exc


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)
