"""WeChat 小店 after-sale updates: only a completed refund is acted on; each state is its own
message, so the same state pushed again is a repeat."""

from __future__ import annotations

import json

import pytest

from omniretail.connectors.platforms.base import Action, MessageUnreadable, PlatformMessage
from omniretail.connectors.platforms.wechat import WeChat
from omniretail.connectors.simulator import after_sale_push


def _parse(push: dict[str, object]) -> list[PlatformMessage]:
    return WeChat().parse(json.dumps(push).encode())


def test_a_refund_success_is_a_refund_of_its_order() -> None:
    [message] = _parse(after_sale_push("W-1", "MERCHANT_REFUND_SUCCESS", 1))
    assert message.action is Action.REFUNDED
    assert message.platform_order_id == "W-1"
    assert message.topic == "channels_ec_aftersale_update"


@pytest.mark.parametrize(
    "status", ["USER_APPLY", "MERCHANT_PROCESSING", "MERCHANT_REJECT_REFUND", "USER_CANCELD"]
)
def test_other_after_sale_states_are_stored_but_not_acted_on(status: str) -> None:
    [message] = _parse(after_sale_push("W-1", status, 1))
    assert message.action is Action.IGNORED


def test_each_state_is_its_own_message_and_a_repeat_keeps_its_id() -> None:
    [applied] = _parse(after_sale_push("W-1", "USER_APPLY", 1))
    [refunded] = _parse(after_sale_push("W-1", "MERCHANT_REFUND_SUCCESS", 2))
    [again] = _parse(after_sale_push("W-1", "MERCHANT_REFUND_SUCCESS", 3))
    assert applied.msg_id != refunded.msg_id
    assert refunded.msg_id == again.msg_id


def test_an_after_sale_without_its_order_is_unreadable() -> None:
    push = after_sale_push("W-1", "MERCHANT_REFUND_SUCCESS", 1)
    push["finder_shop_aftersale_status_update"] = {"status": "MERCHANT_REFUND_SUCCESS"}
    with pytest.raises(MessageUnreadable):
        _parse(push)
