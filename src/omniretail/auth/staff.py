"""Use cases for staff users: create them, sign them in (password, lock-out, optional TOTP),
and resolve a signed session back to the person and the scope they act in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyotp
import sqlalchemy as sa

from omniretail.auth.domain import Permission, Principal
from omniretail.auth.models import Tenant
from omniretail.auth.seeds import SeedSealer
from omniretail.auth.staff_domain import (
    API_ROLE,
    DUMMY_HASH,
    LANGUAGES,
    STORE_ROLES,
    Lockout,
    StaffRole,
    after_failure,
    check_password_strength,
    hash_password,
    locked,
    normalise_login,
    password_matches,
    staff_allows,
    valid_email,
    valid_phone,
)
from omniretail.auth.staff_models import StaffUser
from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.errors import AlreadyExists, NotFound, Unauthenticated, ValidationFailed
from omniretail.network import service as network


class SignInRefused(Unauthenticated):
    code = "sign_in_refused"
    title = "Wrong sign-in"


class AccountLocked(Unauthenticated):
    code = "account_locked"
    title = "Account locked"


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    """A signed-in person: their tenant, role and the stores a store role acts for."""

    id: int
    tenant_id: int
    tenant_slug: str
    currency: str
    timezone: str
    name: str
    login: str
    role: StaffRole
    locations: tuple[str, ...]
    language: str
    session_version: int

    @property
    def actor(self) -> str:
        return f"staff:{self.id}:{self.role.value}"

    @property
    def throttle_id(self) -> int:
        """The identity pickup-code throttling counts under: API key ids are positive, so a
        staff user's negative id never shares a key's budget (nor another person's)."""
        return -self.id

    @property
    def store_bound(self) -> bool:
        return self.role in STORE_ROLES

    def can(self, permission: Permission) -> bool:
        return staff_allows(self.role, permission)

    def principal(self, location: tuple[int, str] | None) -> Principal:
        """The API principal this person acts as, at one of their stores for a store role."""
        return Principal(
            tenant_id=self.tenant_id,
            tenant_slug=self.tenant_slug,
            currency=self.currency,
            timezone=self.timezone,
            key_id=self.throttle_id,
            role=API_ROLE[self.role],
            location_id=location[0] if location else None,
            location_code=location[1] if location else None,
        )


def _check_fields(
    email: str | None, phone: str | None, name: str, password: str, language: str
) -> None:
    errors: list[dict[str, Any]] = []
    if not email and not phone:
        errors.append({"field": "email", "message": "an e-mail or a phone is required"})
    if email and not valid_email(email):
        errors.append({"field": "email", "message": "not an e-mail address"})
    if phone and not valid_phone(phone):
        errors.append({"field": "phone", "message": "digits, optionally starting with +"})
    if not name.strip() or len(name) > 200:
        errors.append({"field": "name", "message": "1-200 characters"})
    weak = check_password_strength(password)
    if weak:
        errors.append({"field": "password", "message": weak})
    if language not in LANGUAGES:
        errors.append({"field": "language", "message": "zh-CN or en"})
    if errors:
        raise ValidationFailed("invalid staff user", errors)


async def do_create_staff(
    uow: UnitOfWork,
    *,
    role: StaffRole,
    password: str,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    locations: list[str] | None = None,
    language: str = "zh-CN",
    totp: bool = False,
) -> dict[str, Any]:
    """Create a staff user in the unit of work's tenant. Store roles need at least one store,
    other roles take none. The TOTP secret, if asked for, is returned only here."""
    email = normalise_login(email) if email else None
    phone = phone.strip() if phone else None
    _check_fields(email, phone, name, password, language)
    codes = sorted(set(locations or []))
    if role in STORE_ROLES and not codes:
        raise ValidationFailed(
            "a store role needs a store", [{"field": "location", "message": "required"}]
        )
    if role not in STORE_ROLES and codes:
        raise ValidationFailed(
            "only store roles are bound to stores",
            [{"field": "location", "message": f"not for role {role.value}"}],
        )
    for code in codes:
        await network.location_ref(uow, code)
    taken = await uow.session.scalar(
        sa.select(StaffUser.id).where(
            sa.or_(
                StaffUser.email == email if email else sa.false(),
                StaffUser.phone == phone if phone else sa.false(),
            )
        )
    )
    if taken is not None:
        raise AlreadyExists("a staff user with this e-mail or phone already exists")
    secret = pyotp.random_base32() if totp else None
    sealed = _sealer(uow).seal(secret) if secret else None
    user = StaffUser(
        email=email,
        phone=phone,
        name=name.strip(),
        password_hash=hash_password(password),
        role=role.value,
        locations=codes,
        language=language,
        totp_secret=sealed,
        failed_signins=0,
        session_version=1,
    )
    uow.session.add(user)
    await uow.flush()
    out: dict[str, Any] = {
        "id": user.id,
        "login": email or phone,
        "role": role.value,
        "locations": codes,
    }
    if secret:
        out["totp_uri"] = pyotp.TOTP(secret).provisioning_uri(name=email or phone or "")
    return out


def _sealer(uow: UnitOfWork) -> SeedSealer:
    return SeedSealer.from_setting(uow.db.settings.staff_keys)


async def _find(uow: UnitOfWork, login: str) -> StaffUser | None:
    key = normalise_login(login)
    return await uow.session.scalar(
        sa.select(StaffUser).where(sa.or_(StaffUser.email == key, StaffUser.phone == key))
    )


async def sign_in(
    db: Database,
    *,
    tenant: str,
    login: str,
    password: str,
    totp_code: str | None = None,
    now: dt.datetime | None = None,
) -> StaffIdentity:
    """The person behind these credentials, or ``SignInRefused`` (one message for an unknown
    tenant, login, password or code) / ``AccountLocked`` after too many wrong passwords."""
    now = now or utcnow()
    async with db.uow(unscoped=True) as uow:
        tenant_row = await uow.session.scalar(sa.select(Tenant).where(Tenant.slug == tenant))
    if tenant_row is None:
        password_matches(password, DUMMY_HASH)
        raise SignInRefused("wrong organisation, login or password")
    async with db.uow(tenant_row.id) as uow:
        user = await _find(uow, login)
        if user is None or user.disabled_at is not None:
            password_matches(password, DUMMY_HASH)
            raise SignInRefused("wrong organisation, login or password")
        state = Lockout(user.failed_signins, user.locked_until)
        if locked(state, now):
            raise AccountLocked("too many wrong passwords: try again later or ask an admin")
        ok = password_matches(password, user.password_hash)
        if ok and user.totp_secret:
            seed = _sealer(uow).open(user.totp_secret)
            ok = bool(totp_code) and pyotp.TOTP(seed).verify(
                totp_code or "", for_time=now, valid_window=1
            )
        # The failure is counted in this transaction, which commits: the refusal is raised
        # only after it, outside.
        state = after_failure(state, now) if not ok else Lockout(0, None)
        user.failed_signins, user.locked_until = state.failures, state.locked_until
        identity = _identity(user, tenant_row)
    if not ok:
        raise SignInRefused("wrong organisation, login or password")
    return identity


def _identity(user: StaffUser, tenant: Tenant) -> StaffIdentity:
    return StaffIdentity(
        id=user.id,
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        currency=tenant.currency,
        timezone=tenant.timezone,
        name=user.name,
        login=user.email or user.phone or "",
        role=StaffRole(user.role),
        locations=tuple(user.locations or []),
        language=user.language,
        session_version=user.session_version,
    )


async def staff_identity(
    db: Database, *, tenant_id: int, staff_id: int, session_version: int
) -> StaffIdentity | None:
    """The person a session cookie names, if the account is still active and the session
    was not ended (signing out everywhere bumps the version)."""
    async with db.uow(tenant_id) as uow:
        user = await uow.session.get(StaffUser, staff_id)
        tenant = await uow.session.get(Tenant, tenant_id)
    if user is None or tenant is None or user.tenant_id != tenant_id:
        return None
    if user.disabled_at is not None or user.session_version != session_version:
        return None
    return _identity(user, tenant)


async def do_set_language(uow: UnitOfWork, *, staff_id: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValidationFailed("unknown language", [{"field": "language", "message": "zh-CN/en"}])
    user = await uow.session.get(StaffUser, staff_id)
    if user is not None:
        user.language = language


async def do_set_password(uow: UnitOfWork, *, login: str, password: str) -> None:
    """Set a new password; every open session of the person ends and the lock-out is lifted."""
    weak = check_password_strength(password)
    if weak:
        raise ValidationFailed("weak password", [{"field": "password", "message": weak}])
    user = await _find(uow, login)
    if user is None:
        raise NotFound("staff user", login)
    user.password_hash = hash_password(password)
    user.session_version += 1
    user.failed_signins, user.locked_until = 0, None


async def do_end_sessions(uow: UnitOfWork, *, staff_id: int) -> None:
    """Sign the person out everywhere: every cookie issued so far stops working."""
    user = await uow.session.get(StaffUser, staff_id)
    if user is not None:
        user.session_version += 1


async def list_staff(uow: UnitOfWork, *, limit: int = 200) -> list[dict[str, Any]]:
    """The tenant's staff users (never their hashes or TOTP seeds), by id."""
    rows = await uow.session.scalars(sa.select(StaffUser).order_by(StaffUser.id).limit(limit))
    return [
        {
            "id": user.id,
            "name": user.name,
            "login": user.email or user.phone,
            "role": user.role,
            "locations": list(user.locations or []),
            "language": user.language,
            "totp": user.totp_secret is not None,
            "locked": user.locked_until is not None and user.locked_until > utcnow(),
        }
        for user in rows
    ]
