"""Pure rules of engagement: templates, backoff, masking."""

from __future__ import annotations

import datetime as dt

import pytest

from omniretail.engagement.domain import (
    TEMPLATES,
    Medium,
    TemplateError,
    mask_address,
    render,
    retry_delay,
)


def test_every_template_has_chinese_and_english_with_the_same_parameters() -> None:
    for tpl in TEMPLATES.values():
        assert set(tpl.text) == {"zh-CN", "en"}
        names = [
            {f for f in tpl.parameters() if "{" + f + "}" in text} for text in tpl.text.values()
        ]
        assert names[0] == names[1], tpl.code


def test_a_missing_parameter_names_what_is_needed() -> None:
    with pytest.raises(TemplateError, match="needs code"):
        render("pickup_ready", "en", {"order": "1", "store": "X"})
    with pytest.raises(TemplateError, match="no template"):
        render("nope", "en", {})


def test_backoff_doubles_and_is_capped_at_an_hour() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == dt.timedelta(hours=1)


def test_a_masked_phone_keeps_only_its_ends() -> None:
    assert mask_address("+8613800138000") == "+861****00"
    assert "138001" not in mask_address("+8613800138000")
    assert mask_address("12345") == "***"


def test_every_medium_names_a_consent_channel_and_an_address() -> None:
    assert {m.consent_channel for m in Medium} == {"sms", "wechat", "app", "miniprogram"}
    assert Medium.SMS.identity_type == "phone"
