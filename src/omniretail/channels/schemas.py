from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from omniretail.schemas import Code, Input, Name, Output


class ChannelKind(StrEnum):
    APP = "app"
    MINIPROGRAM = "miniprogram"
    WEB = "web"
    DOUYIN = "douyin"
    XIAOHONGSHU = "xiaohongshu"
    POS = "pos"
    MARKETPLACE = "marketplace"


CODE = "the channel's code, unique in the tenant (app, jd, pos...): orders and stock name it"
KIND = (
    "what sort of channel: app, miniprogram (WeChat), web, douyin, xiaohongshu, pos (tills) "
    "or marketplace (JD, Tmall, ...)"
)
NAME = "the name people see"


class ChannelIn(Input):
    code: Code = Field(description=CODE)
    kind: ChannelKind = Field(description=KIND)
    name: Name = Field(description=NAME)


class ChannelOut(Output):
    code: str = Field(description=CODE)
    kind: ChannelKind = Field(description=KIND)
    name: str = Field(description=NAME)
    created_at: dt.datetime = Field(description="when it was created (UTC, read-only)")
