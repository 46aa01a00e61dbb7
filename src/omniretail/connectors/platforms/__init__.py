"""The platform registry: the one place a platform plugin is named. Adding a platform is a
new module here and one line below; no core code changes."""

from __future__ import annotations

from omniretail.connectors.platforms.base import Platform
from omniretail.connectors.platforms.douyin import Douyin
from omniretail.connectors.platforms.wechat import WeChat
from omniretail.connectors.platforms.xiaohongshu import Xiaohongshu
from omniretail.connectors.platforms.youzan import Youzan


def builtin_platforms() -> dict[str, Platform]:
    return {p.name: p for p in (Douyin(), Youzan(), Xiaohongshu(), WeChat())}
