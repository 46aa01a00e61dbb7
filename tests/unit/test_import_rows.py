from __future__ import annotations

import pytest

from omniretail.imports.domain import (
    format_money,
    parse_bool,
    parse_hours,
    parse_locations,
    parse_money,
    parse_products,
)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("399.00", 39900), ("399", 39900), ("0.5", 50), ("1,299.90", 129990), ("0", 0)],
)
def test_prices_convert_exactly_to_fen(text: str, fen: int) -> None:
    assert parse_money(text, 2) == fen
    assert parse_money(format_money(fen, 2), 2) == fen


@pytest.mark.parametrize(
    ("text", "why"),
    [("-1", "negative"), ("1.234", "at most 2"), ("abc", "number"), ("NaN", "number")],
)
def test_prices_that_cannot_be_exact_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_money(text, 2)


def test_yen_has_no_decimals() -> None:
    assert parse_money("1200", 0) == 1200
    with pytest.raises(ValueError, match="at most 0"):
        parse_money("1200.5", 0)


def test_hours_and_flags() -> None:
    assert parse_hours("mon=10:00-22:00;sat=09:00-12:00,13:00-22:00") == {
        "mon": ["10:00-22:00"],
        "sat": ["09:00-12:00", "13:00-22:00"],
    }
    assert parse_hours("") is None
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hours("funday=10:00-12:00")
    assert parse_bool("Yes") is True
    assert parse_bool("") is False
    with pytest.raises(ValueError, match="yes or no"):
        parse_bool("maybe")


def test_each_bad_product_row_is_named_by_line() -> None:
    text = (
        "product_code,title,category,sku,barcode,price,size\n"
        "P1,Tee,men/tees,P1-S,6901234567892,99.00,S\n"  # line 2: fine
        "P1,Tee,men/tees,P1-M,,,M\n"  # line 3: missing price
        "P1,Tee,men/tees,P1-L,,-5,L\n"  # line 4: negative price
        "P1,Tee,men/tees,P1-S,,99.00,S\n"  # line 5: duplicate sku
        "P2,Dress,women,P2-S,6901234567893,399.00,S\n"  # line 6: bad checksum
        "P1,Other title,men/tees,P1-XL,,99.00,XL\n"  # line 7: title differs
    )
    parsed = parse_products(text, 2)
    assert {(e.line, e.field) for e in parsed.errors} == {
        (3, "price"),
        (4, "price"),
        (5, "sku"),
        (6, "barcode"),
        (7, "title"),
    }


def test_each_bad_location_row_is_named_by_line() -> None:
    text = (
        "code,name,type,lat,lng,ship,pickup,local_delivery,sells_online\n"
        "ST-1,One,store,31.2,121.4,yes,yes,no,yes\n"
        "ST-2,Two,castle,31.2,121.4,yes,yes,no,yes\n"
        "ST-3,Three,store,95,121.4,yes,yes,no,yes\n"
        "ST-1,Again,store,31.2,121.4,yes,yes,no,yes\n"
        "EX-1,Exp,experience_store,31.2,121.4,yes,no,no,no\n"
    )
    parsed = parse_locations(text)
    assert {(e.line, e.field) for e in parsed.errors} == {
        (3, "type"),
        (4, "lat"),
        (5, "code"),
        (6, "capabilities"),
    }
    assert [loc.code for loc in parsed.items] == ["ST-1"]
