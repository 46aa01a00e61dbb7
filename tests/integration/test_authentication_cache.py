"""Authentication answers from the process's cache with no query, and a key revoked by another
process is refused within a second."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from omniretail.auth import service as auth
from omniretail.auth.cache import principal_cache
from omniretail.auth.domain import Role
from omniretail.auth.schemas import SettingsPatch
from omniretail.config import Settings
from omniretail.db import Database
from omniretail.errors import Unauthenticated
from tests.factories import TenantHandle, make_key


async def test_a_key_verified_a_moment_ago_costs_no_statement(
    db: Database, tenant: TenantHandle
) -> None:
    header = f"Bearer {tenant.admin_key}"
    first = await auth.authenticate(db, header)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        again = await auth.authenticate(db, header)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert again == first
    assert again.tenant_id == tenant.id
    assert statements == []


async def test_a_key_revoked_by_another_process_is_refused_within_a_second(
    db: Database, tenant: TenantHandle
) -> None:
    key = await make_key(db, tenant, Role.ANALYST)
    other_process = Database(Settings(database_url=db.settings.database_url, run_dispatcher=False))
    now = [1000.0]
    principal_cache(other_process).clock = lambda: now[0]
    try:
        seen = await auth.authenticate(other_process, f"Bearer {key}")
        async with db.uow(tenant.id) as uow:
            await auth.do_revoke_key(uow, key_id=seen.key_id)
        now[0] += 0.5  # still within the second it may be stale
        assert await auth.authenticate(other_process, f"Bearer {key}") == seen
        now[0] += 0.5
        with pytest.raises(Unauthenticated):
            await auth.authenticate(other_process, f"Bearer {key}")
    finally:
        await other_process.dispose()


async def test_a_key_revoked_in_this_process_is_refused_at_once(
    db: Database, tenant: TenantHandle
) -> None:
    key = await make_key(db, tenant, Role.ANALYST)
    seen = await auth.authenticate(db, f"Bearer {key}")
    async with db.uow(tenant.id) as uow:
        await auth.do_revoke_key(uow, key_id=seen.key_id)
    with pytest.raises(Unauthenticated):
        await auth.authenticate(db, f"Bearer {key}")


async def test_a_key_read_before_its_revocation_commits_is_refused_after_it(
    db: Database, tenant: TenantHandle
) -> None:
    # A request of this process reads the key in the gap between the revocation and its
    # commit (the row still says active): what it caches must not outlive the commit.
    key = await make_key(db, tenant, Role.ANALYST)
    seen = await auth.authenticate(db, f"Bearer {key}")
    async with db.uow(tenant.id) as uow:
        await auth.do_revoke_key(uow, key_id=seen.key_id)
        assert await auth.authenticate(db, f"Bearer {key}") == seen  # not committed yet
    with pytest.raises(Unauthenticated):
        await auth.authenticate(db, f"Bearer {key}")


async def test_a_time_zone_read_before_its_change_commits_is_not_kept_after_it(
    db: Database, tenant: TenantHandle
) -> None:
    header = f"Bearer {tenant.admin_key}"
    before = await auth.authenticate(db, header)
    assert before.timezone != "Asia/Tokyo"
    async with db.uow(tenant.id) as uow:
        patch = SettingsPatch.model_validate({"timezone": "Asia/Tokyo"})
        await auth.do_change_settings(uow, patch=patch, actor="test")
        assert (await auth.authenticate(db, header)).timezone == before.timezone
    assert (await auth.authenticate(db, header)).timezone == "Asia/Tokyo"


async def test_a_forged_secret_behind_a_cached_lookup_is_refused(
    db: Database, tenant: TenantHandle
) -> None:
    await auth.authenticate(db, f"Bearer {tenant.admin_key}")
    forged = tenant.admin_key[:-4] + ("AAAA" if not tenant.admin_key.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated):
        await auth.authenticate(db, f"Bearer {forged}")


async def test_what_a_principal_derives_is_kept_beside_it_for_the_same_second(
    db: Database, tenant: TenantHandle
) -> None:
    cache = principal_cache(db)
    now = [50.0]
    cache.clock = lambda: now[0]
    principal = await auth.authenticate(db, f"Bearer {tenant.admin_key}")
    loads: list[int] = []

    async def load() -> frozenset[str]:
        loads.append(1)
        return frozenset({f"app-{len(loads)}"})

    assert await cache.derived(principal, "visible_channels", load) == {"app-1"}
    now[0] += 0.9
    assert await cache.derived(principal, "visible_channels", load) == {"app-1"}
    now[0] += 0.1  # as old as a principal may get: loaded again
    assert await cache.derived(principal, "visible_channels", load) == {"app-2"}
    cache.forget_key(principal.key_id)  # revoked here: gone at once
    assert await cache.derived(principal, "visible_channels", load) == {"app-3"}
    assert len(loads) == 3
