"""Message senders, one per medium, behind one ``Protocol``. The built-in senders are local
simulators: they write each message to a log (the address masked) and keep a journal that a
test or the console can read; nothing leaves the machine. A real gateway (an SMS provider,
WeChat's template API) implements the same ``send``."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Protocol

from omniretail.engagement.domain import Medium, mask_address

log = logging.getLogger("omniretail.engagement.sim")


class SendFailed(Exception):
    """The gateway refused or did not answer; the message is tried again later."""


class Sender(Protocol):
    medium: Medium

    async def send(self, *, message_id: str, address: str, text: str) -> str:
        """Hand the message to the gateway; returns the gateway's reference."""
        ...


@dataclass(frozen=True, slots=True)
class Delivered:
    message_id: str
    medium: Medium
    masked_address: str
    text: str
    ref: str


@dataclass
class SimulatedSender:
    """A gateway on this machine. ``fail_next`` makes the next n sends fail, as a gateway
    outage would (the retries with backoff are tested with it)."""

    medium: Medium
    journal: list[Delivered] = field(default_factory=list)
    fail_next: int = 0

    async def send(self, *, message_id: str, address: str, text: str) -> str:
        masked = mask_address(address)
        if self.fail_next > 0:
            self.fail_next -= 1
            log.warning("%s to %s (%s): gateway unavailable", self.medium, masked, message_id)
            raise SendFailed(f"{self.medium} gateway unavailable")
        ref = f"sim_{secrets.token_hex(6)}"
        self.journal.append(Delivered(message_id, self.medium, masked, text, ref))
        log.info("%s to %s (%s): %s", self.medium, masked, message_id, text)
        return ref


def simulated_senders() -> dict[Medium, SimulatedSender]:
    return {medium: SimulatedSender(medium) for medium in Medium}
