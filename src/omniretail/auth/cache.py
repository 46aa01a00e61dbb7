"""The in-process cache of principals: authentication costs no query on the hot path.

Entries are keyed by a SHA-256 digest of the whole presented key (lookup and secret), so a hit
means this exact secret was verified against the database, and the plaintext is never kept.
Only successful authentications are cached: unknown, forged and revoked keys always reach the
database (and whatever throttles failed attempts).

Revocation is seen by every process within ``ttl_seconds`` (one second): an entry older than
that is reloaded from the database before it is trusted again. A short TTL needs no schema, no
listener connection and works the same on SQLite and PostgreSQL; it costs at most one indexed
query per key per second per process. A revocation in this process is seen at once
(:meth:`PrincipalCache.forget_key`).

Nobody waits for that query while the key is in use: in the last quarter of an entry's second
(``REFRESH_AFTER``) the first caller reloads it, alone, while every other caller is still
answered from the entry (which is trusted for its second and no longer). Before, every request
of a busy key queued behind the reload once a second, the reload itself slowed by the load
(on SQLite, each of its statements a hop to aiosqlite's thread); that queue was the tail of
``/v1/me`` and of every other authenticated path. A reload that fails (the key revoked, a
database error) drops the entry at once.

What a request derives from its principal alone and would otherwise recompute every time (the
channels a channel key's orders span, ``channels.service.visible_channels``) is kept next to
it (:meth:`PrincipalCache.derived`) under the same rules: trusted for ``ttl_seconds`` after it
was loaded, dropped with the key. It may lag a change to the tenant's channels by that second
(a new own channel, a channel's kind changed), the same window in which a revoked key still
works; no write is decided on it (checkout checks its channel and holds in its transaction).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from omniretail.auth.domain import Principal

TTL_SECONDS = 1.0
MAX_ENTRIES = 10_000
# Past this share of its TTL an entry in use is reloaded by one caller while the others are
# still answered from it: late, so that a key costs one load per TTL, and early enough that the
# load (milliseconds, even on a loaded machine) ends before the entry would expire.
REFRESH_AFTER = 0.75
# What a shared load hands its waiters when the caller that ran it was cancelled (its client
# went away): not an answer, each waiter asks again.
_RETRY: Any = object()


class PrincipalCache:
    """Principals by key digest, each trusted for ``ttl_seconds`` after it was loaded."""

    def __init__(
        self,
        *,
        ttl_seconds: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._loading: dict[bytes, asyncio.Future[Principal]] = {}
        self._derived: OrderedDict[tuple[int, str], tuple[float, Any]] = OrderedDict()
        self._forgotten = 0  # how many times keys or tenants were forgotten

    async def principal(self, key: str, load: Callable[[], Awaitable[Principal]]) -> Principal:
        """The principal behind ``key``: from the cache while fresh, else from ``load`` (one
        load at a time per key; concurrent callers share it). In the last quarter of an entry's
        TTL one caller reloads it while the others are answered from it. ``load``'s errors
        propagate and are not cached."""
        digest = hashlib.sha256(key.encode()).digest()
        while True:
            entry = self._entries.get(digest)
            if entry is not None:
                age = self.clock() - entry[0]
                if age < self.ttl_seconds:
                    if age < self.ttl_seconds * REFRESH_AFTER or digest in self._loading:
                        return entry[1]
                    return await self._load(digest, load)
            pending = self._loading.get(digest)
            if pending is None:
                return await self._load(digest, load)
            principal = await asyncio.shield(pending)
            if principal is not _RETRY:
                return principal

    async def _load(self, digest: bytes, load: Callable[[], Awaitable[Principal]]) -> Principal:
        future: asyncio.Future[Principal] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        forgotten = self._forgotten
        try:
            loaded_at = self.clock()
            principal = await load()
        except asyncio.CancelledError:
            future.set_result(_RETRY)
            raise
        except BaseException as exc:
            self._entries.pop(digest, None)  # refused now (revoked?) or unknown: trust it no more
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else must
            raise
        finally:
            del self._loading[digest]
        future.set_result(principal)
        # A key or tenant forgotten while this load ran may have been read before the change.
        if forgotten == self._forgotten:
            self._remember(digest, loaded_at, principal)
        return principal

    async def derived(
        self, principal: Principal, name: str, load: Callable[[], Awaitable[Any]]
    ) -> Any:
        """What ``load`` works out for ``principal`` (``name`` says what), from the cache while
        fresh (``ttl_seconds``, like the principal), else loaded again; errors are not cached.
        The value must depend on the principal and tenant-wide data only, never on the request."""
        slot = (principal.key_id, name)
        entry = self._derived.get(slot)
        if entry is not None and self.clock() - entry[0] < self.ttl_seconds:
            return entry[1]
        loaded_at = self.clock()
        value = await load()
        self._derived[slot] = (loaded_at, value)
        self._derived.move_to_end(slot)
        while len(self._derived) > self.max_entries:
            self._derived.popitem(last=False)
        return value

    def forget_key(self, key_id: int) -> None:
        """Drop every entry of ``key_id`` (called when this process revokes it)."""
        self._forgotten += 1
        for digest in [d for d, (_, p) in self._entries.items() if p.key_id == key_id]:
            del self._entries[digest]
        for slot in [s for s in self._derived if s[0] == key_id]:
            del self._derived[slot]

    def forget_tenant(self, tenant_id: int) -> None:
        """Drop every entry of ``tenant_id`` (called when this process changes the tenant's
        time zone or locale, which principals carry)."""
        self._forgotten += 1
        for digest in [d for d, (_, p) in self._entries.items() if p.tenant_id == tenant_id]:
            del self._entries[digest]

    def _remember(self, digest: bytes, loaded_at: float, principal: Principal) -> None:
        self._entries[digest] = (loaded_at, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


_caches: weakref.WeakKeyDictionary[Any, PrincipalCache] = weakref.WeakKeyDictionary()


def principal_cache(owner: Any) -> PrincipalCache:
    """The cache of one database handle (one per process; tests open one per test)."""
    cache = _caches.get(owner)
    if cache is None:
        cache = _caches[owner] = PrincipalCache()
    return cache
