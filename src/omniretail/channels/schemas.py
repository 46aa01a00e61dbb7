from __future__ import annotations

import datetime as dt
from enum import StrEnum

from omniretail.schemas import Code, Input, Name, Output


class ChannelKind(StrEnum):
    APP = "app"
    MINIPROGRAM = "miniprogram"
    WEB = "web"
    DOUYIN = "douyin"
    XIAOHONGSHU = "xiaohongshu"
    POS = "pos"
    MARKETPLACE = "marketplace"


class ChannelIn(Input):
    code: Code
    kind: ChannelKind
    name: Name


class ChannelOut(Output):
    code: str
    kind: ChannelKind
    name: str
    created_at: dt.datetime
