# ruff: noqa: RUF001  (Chinese product names use full-width brackets)
"""Files as merchants' spreadsheets save them: detected, decoded, and exported for Excel."""

from __future__ import annotations

import codecs

import pytest

from omniretail.auth.domain import minor_digits, valid_currency
from omniretail.i18n import CHINESE, ENGLISH, pick_locale
from omniretail.imports.encoding import UndecodableFile, decode_csv, encode_csv

CSV = (
    "product_code,title,category,sku,barcode,price,size,colour\n"
    "LM1,真丝衬衫 女款,女装/上衣,LM1-WHI-M,,399.00,M,白色\n"
    "LM2,羊绒大衣（长款）,女装/外套,LM2-BLA-L,,1299.00,L,黑色\n"
)


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (CSV.encode("utf-8"), "UTF-8"),
        (codecs.BOM_UTF8 + CSV.encode("utf-8"), "UTF-8 (BOM)"),
        (CSV.encode("gbk"), "GB18030"),
        (CSV.encode("gb18030"), "GB18030"),
        (CSV.encode("utf-16"), "UTF-16"),  # Excel's "Unicode text": a BOM, little-endian
        (CSV.encode("utf-16-le"), "UTF-16"),
        (CSV.encode("utf-16-be"), "UTF-16"),
    ],
)
def test_excel_encodings_are_detected_and_decoded(data: bytes, label: str) -> None:
    decoded = decode_csv(data)
    assert decoded.text == CSV
    assert decoded.encoding == label


def test_gb18030_characters_outside_gbk_survive() -> None:
    text = "sku,title\nA1,𠮷野家 联名款\n"
    assert decode_csv(text.encode("gb18030")).text == text


@pytest.mark.parametrize("locale", [ENGLISH, CHINESE])
def test_binary_files_are_refused_with_a_hint_in_the_callers_language(locale: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    with pytest.raises(UndecodableFile) as refused:
        decode_csv(png, locale=locale)
    assert refused.value.code == "undecodable_file"
    hint = refused.value.extra["errors"][0]["message"]
    assert "Excel" in hint
    assert ("另存为" in hint) == (locale == CHINESE)


def test_exports_carry_a_bom_only_when_asked() -> None:
    assert encode_csv("a,b\n", bom=True) == b"\xef\xbb\xbfa,b\n"
    assert encode_csv("a,b\n", bom=False) == b"a,b\n"
    assert decode_csv(encode_csv(CSV, bom=True)).text == CSV


@pytest.mark.parametrize(
    ("header", "tenant", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, CHINESE),
        ("en-US,en;q=0.9,zh-CN;q=0.8", None, ENGLISH),
        ("fr-FR, zh-Hans;q=0.5", None, CHINESE),
        ("en;q=0.1, zh;q=0.9", None, CHINESE),
        ("zh;q=0", None, ENGLISH),
        (None, CHINESE, CHINESE),
        ("fr", CHINESE, CHINESE),
        ("", None, ENGLISH),
    ],
)
def test_the_language_follows_accept_language_then_the_tenant(
    header: str | None, tenant: str | None, expected: str
) -> None:
    assert pick_locale(header, tenant) == expected


def test_currencies_come_from_the_iso_4217_list_with_their_minor_units() -> None:
    assert valid_currency("CNY")
    assert valid_currency("HKD")
    for bogus in ("ABC", "XAU", "XXX", "cny", "RMB"):
        assert not valid_currency(bogus)
    assert (minor_digits("CNY"), minor_digits("JPY"), minor_digits("KWD")) == (2, 0, 3)
