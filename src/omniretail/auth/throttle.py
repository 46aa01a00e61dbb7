"""Throttling of failed authentication per client address, in process.

A client that keeps sending wrong keys is answered 429 with ``Retry-After`` before any database
lookup, so guessing costs the server nothing and gains the guesser nothing. A key that
authenticated recently still passes from a throttled address (an office behind one NAT keeps
working while a broken script next to it is held back). Counts live in each API process: with
N processes a guesser gets at most N times the limit, which still bounds it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(
        self,
        *,
        limit: int = 30,
        window_seconds: float = 60.0,
        max_addresses: int = 10_000,
        max_known_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._known: OrderedDict[bytes, None] = OrderedDict()
        self._max_addresses = max_addresses
        self._max_known = max_known_keys

    def retry_after(self, address: str, credentials: str | None) -> int | None:
        """Seconds to wait if this address is throttled and the key is not one seen to work."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self._clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if len(failures) < self.limit:
            return None
        if credentials is not None and _digest(credentials) in self._known:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def record_failure(self, address: str) -> None:
        failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
        failures.append(self._clock())
        self._failures[address] = failures  # most recent last, so the oldest is evicted first
        if len(self._failures) > self._max_addresses:
            self._failures.popitem(last=False)

    def record_success(self, credentials: str) -> None:
        digest = _digest(credentials)
        self._known.pop(digest, None)
        self._known[digest] = None
        if len(self._known) > self._max_known:
            self._known.popitem(last=False)


def _digest(credentials: str) -> bytes:
    # Only a digest is kept, never the key itself.
    return hashlib.sha256(credentials.encode("utf-8", "replace")).digest()
