from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from omniretail.catalog.domain import barcode_error, normalise_category
from omniretail.schemas import Code, Input, Money, Output

Attributes = Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=50)]
Barcode = Annotated[str, Field(min_length=1, max_length=14)]


class ProductStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


def _check_barcode(value: str | None) -> str | None:
    if value is not None and (error := barcode_error(value)):
        raise ValueError(error)
    return value


def _check_category(value: str | None) -> str | None:
    if value is None:
        return None
    normal = normalise_category(value)
    if not normal:
        raise ValueError("a category such as 'women/dresses'")
    return normal


class VariantIn(Input):
    sku: Code
    barcode: Barcode | None = None
    attributes: Attributes = {}
    price: Money

    _barcode = field_validator("barcode")(_check_barcode)


class ProductIn(Input):
    code: Code
    title: Annotated[str, Field(min_length=1, max_length=300)]
    category: Annotated[str, Field(min_length=1, max_length=200)]
    attributes: Attributes = {}
    status: ProductStatus = ProductStatus.ACTIVE
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=500)]

    _category = field_validator("category")(_check_category)

    @model_validator(mode="after")
    def _unique_variants(self) -> ProductIn:
        skus = [v.sku for v in self.variants]
        if len(set(skus)) != len(skus):
            raise ValueError("each variant needs its own sku")
        codes = [v.barcode for v in self.variants if v.barcode]
        if len(set(codes)) != len(codes):
            raise ValueError("each variant needs its own barcode")
        return self


class VariantPatch(Input):
    """Changes one variant by sku, or adds it if the product has no such sku (then price is
    required)."""

    sku: Code
    barcode: Barcode | None = None
    attributes: Attributes | None = None
    price: Money | None = None

    _barcode = field_validator("barcode")(_check_barcode)


class ProductPatch(Input):
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    category: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    attributes: Attributes | None = None
    status: ProductStatus | None = None
    variants: Annotated[list[VariantPatch], Field(max_length=500)] | None = None

    _category = field_validator("category")(_check_category)

    @model_validator(mode="after")
    def _not_empty(self) -> ProductPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class VariantOut(Output):
    sku: str
    barcode: str | None
    attributes: dict[str, Any]
    price: int


class ProductOut(Output):
    code: str
    title: str
    category: str
    attributes: dict[str, Any]
    status: ProductStatus
    variants: list[VariantOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class PriceChangeOut(Output):
    sku: str
    old_price: int | None
    new_price: int
    actor: str
    changed_at: dt.datetime
