"""Where a webhook URL leads: resolved, and every address it resolves to checked, once when
the subscription is made and again before every try (a name may be re-pointed at an
internal address later: DNS rebinding). The try then connects to the address that was
checked, not to whatever the name resolves to a moment later."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from omniretail.errors import ValidationFailed
from omniretail.webhooks.domain import address_problem, url_problem


class WebhookUrlRefused(ValidationFailed):
    code = "webhook_url_refused"
    title = "We do not send webhooks to this URL"

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused webhook URL: {reason}", [{"field": "url", "message": reason}])
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: the address to connect to and what to say the host is."""

    pinned_url: str  # the URL with the checked IP in place of the name
    host_header: str
    server_name: str  # for TLS: the certificate must be the name's, not the IP's


async def resolve_target(url: str, *, allow_loopback: bool) -> Target:
    """The URL checked and pinned, or :class:`WebhookUrlRefused` saying why not."""
    reason = url_problem(url)
    if reason is not None:
        raise WebhookUrlRefused(reason)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await _lookup(host, port)
    for address in addresses:
        reason = address_problem(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise WebhookUrlRefused(f"{host} resolves to {address}: {reason.split(' ', 1)[1]}")
    pinned = addresses[0]
    literal = f"[{pinned}]" if ":" in pinned else pinned
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(
        pinned_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=host,
    )


async def _lookup(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(f"{host} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookUrlRefused(f"{host} does not resolve")
    return addresses
