# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""The per-row messages of a CSV error report, in English (as the checks word them) or Chinese.

The checks that find a bad row live in several contexts (network, catalogue, pydantic's field
validation) and word their findings in English; this module renders each finding in the
reader's language. A finding it does not know stays in English (never dropped or altered).
"""

from __future__ import annotations

import re

from omniretail.i18n import CHINESE

_EXACT: dict[str, str] = {
    "missing column": "缺少此列",
    "required": "必填",
    "Field required": "必填",
    "yes or no": "应为 yes 或 no",
    "not a number": "不是数字",
    "must not be negative": "不能为负数",
    "day=HH:MM-HH:MM;... with days mon..sun": "格式应为 day=HH:MM-HH:MM;...，day 为 mon 至 sun",
    "an experience store holds no stock: ship, pickup and local_delivery must be false": (
        "体验店不持有库存：ship、pickup 和 local_delivery 必须为 no"
    ),
    "a pickup point hands over parcels only: ship and local_delivery must be false": (
        "自提点只负责交付包裹：ship 和 local_delivery 必须为 no"
    ),
    "a barcode has digits only": "条码只能包含数字",
    "a barcode has 8, 12, 13 or 14 digits (EAN-8, UPC-A, EAN-13, GTIN-14)": (
        "条码应为 8、12、13 或 14 位数字（EAN-8、UPC-A、EAN-13、GTIN-14）"
    ),
    "the barcode's check digit is wrong": "条码校验位错误",
    "belongs to another product": "已属于另一个商品",
    "Input should be a valid number, unable to parse string as a number": "应为数字",
    "Input should be a valid integer, unable to parse string as an integer": "应为整数",
    "Input should be a valid integer": "应为整数",
    "Input should be a finite number": "应为有限的数字",
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^also on line (\d+)$"), "与第 {0} 行重复"),
    (re.compile(r"^differs from line (\d+) of product (.+)$"), "与商品 {1} 第 {0} 行的不一致"),
    (re.compile(r"^at most (\d+) decimals$"), "最多 {0} 位小数"),
    (re.compile(r"^already used by sku (.+)$"), "已被 SKU {0} 使用"),
    (re.compile(r"^'(.+)' is not one of (.+)$"), "“{0}”不是 {1} 之一"),
    (re.compile(r"^(\w+): '(.+)' is not HH:MM-HH:MM$"), "{0}：“{1}”应为 HH:MM-HH:MM"),
    (
        re.compile(r"^(\w+): '(.+)' must end after it starts, by 24:00$"),
        "{0}：“{1}”结束时间须晚于开始时间且不晚于 24:00",
    ),
    (re.compile(r"^String should have at least (\d+) characters?$"), "至少 {0} 个字符"),
    (re.compile(r"^String should have at most (\d+) characters?$"), "最多 {0} 个字符"),
    (re.compile(r"^String should match pattern '(.+)'$"), "格式不符合 {0}"),
    (re.compile(r"^Input should be greater than or equal to (\S+)$"), "应大于或等于 {0}"),
    (re.compile(r"^Input should be less than or equal to (\S+)$"), "应小于或等于 {0}"),
    (re.compile(r"^Input should be greater than (\S+)$"), "应大于 {0}"),
    (re.compile(r"^Input should be less than (\S+)$"), "应小于 {0}"),
    (re.compile(r"^Input should be (.+)$"), "应为 {0}"),
]


def row_message(message: str, locale: str) -> str:
    """``message`` (one finding about one field of one row) in ``locale``."""
    if locale != CHINESE:
        return message
    if message.startswith("Value error, "):
        return "值无效：" + row_message(message.removeprefix("Value error, "), locale)
    exact = _EXACT.get(message)
    if exact is not None:
        return exact
    for pattern, template in _PATTERNS:
        found = pattern.match(message)
        if found:
            return template.format(*found.groups())
    return message
