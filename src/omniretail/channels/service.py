"""Use cases of the channels context."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from omniretail.channels.models import Channel
from omniretail.channels.schemas import ChannelKind, ChannelOut
from omniretail.db import UnitOfWork
from omniretail.errors import AlreadyExists, NotFound, ValidationFailed
from omniretail.events import record_event
from omniretail.scoped import TENANT, read_ref, tenant_statement


async def do_create_channel(
    uow: UnitOfWork, *, code: str, kind: ChannelKind, name: str
) -> ChannelOut:
    exists = await uow.session.scalar(sa.select(Channel.id).where(Channel.code == code))
    if exists is not None:
        raise AlreadyExists(f"channel {code!r} already exists", field="code")
    channel = Channel(code=code, kind=kind.value, name=name)
    uow.session.add(channel)
    await uow.flush()
    record_event(
        uow,
        "channel.created",
        aggregate_type="channel",
        aggregate_id=code,
        payload={"code": code, "kind": kind.value},
    )
    return ChannelOut.model_validate(channel)


async def get_channel(uow: UnitOfWork, code: str) -> ChannelOut:
    channel = await uow.session.scalar(sa.select(Channel).where(Channel.code == code))
    if channel is None:
        raise NotFound("channel", code)
    return ChannelOut.model_validate(channel)


async def list_channels(uow: UnitOfWork, *, limit: int, after: Any = None) -> list[ChannelOut]:
    query = sa.select(Channel).order_by(Channel.code).limit(limit + 1)
    if after is not None:
        query = query.where(Channel.code > str(after))
    return [ChannelOut.model_validate(row) for row in await uow.session.scalars(query)]


_CHANNEL_ID = tenant_statement(
    sa.select(Channel.id).where(
        Channel.tenant_id == sa.bindparam(TENANT), Channel.code == sa.bindparam("code")
    )
)


async def channel_ref(uow: UnitOfWork, code: str) -> tuple[int, str]:
    """The internal id behind a channel code, for other contexts to keep a reference. A code
    never changes its id and channels are never deleted, so it is read once per process
    (``scoped.read_ref``: kept once the reading unit of work committed)."""
    channel_id = await read_ref(uow, _CHANNEL_ID, code)
    if channel_id is None:
        raise NotFound("channel", code)
    return channel_id, code


async def check_channel_exists(uow: UnitOfWork, code: str, *, field: str = "channel") -> None:
    """A channel named in a request must be one of the tenant's (a typo is not a new channel)."""
    try:
        await channel_ref(uow, code)
    except NotFound as exc:
        raise ValidationFailed(
            "unknown channel", [{"field": field, "message": f"no channel {code!r}"}]
        ) from exc


# The retailer's own touchpoints share one order history (a store purchase can be returned
# through the app); a platform's shop (Douyin, Xiaohongshu, a marketplace) is a separate
# storefront whose key sees only its own orders.
OWN_KINDS = frozenset({ChannelKind.APP, ChannelKind.MINIPROGRAM, ChannelKind.WEB, ChannelKind.POS})


async def visible_channels(uow: UnitOfWork, code: str) -> frozenset[str]:
    """The channels whose orders a key of channel ``code`` may see and act on."""
    kind = await uow.session.scalar(sa.select(Channel.kind).where(Channel.code == code))
    if kind is None or kind not in OWN_KINDS:
        return frozenset({code})
    own = await uow.session.scalars(sa.select(Channel.code).where(Channel.kind.in_(OWN_KINDS)))
    return frozenset(own)
