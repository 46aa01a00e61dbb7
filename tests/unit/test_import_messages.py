# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""Each finding of a CSV check in Chinese; English stays as the checks word it."""

from __future__ import annotations

import pytest

from omniretail.i18n import CHINESE, ENGLISH
from omniretail.imports.messages import row_message


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        ("missing column", "缺少此列"),
        ("also on line 7", "与第 7 行重复"),
        ("differs from line 2 of product P1", "与商品 P1 第 2 行的不一致"),
        ("at most 2 decimals", "最多 2 位小数"),
        ("already used by sku P1-S", "已被 SKU P1-S 使用"),
        ("String should have at most 200 characters", "最多 200 个字符"),
        ("Input should be less than or equal to 90", "应小于或等于 90"),
        ("Value error, not a number", "值无效：不是数字"),
        ("fri: '25:00-26:00' is not HH:MM-HH:MM", "fri：“25:00-26:00”应为 HH:MM-HH:MM"),
    ],
)
def test_findings_in_chinese(english: str, chinese: str) -> None:
    assert row_message(english, CHINESE) == chinese
    assert row_message(english, ENGLISH) == english


def test_an_unknown_finding_stays_in_english_rather_than_lost() -> None:
    assert row_message("something new", CHINESE) == "something new"
