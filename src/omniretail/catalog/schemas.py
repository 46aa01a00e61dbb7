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


SKU = "the variant's SKU, unique in the tenant: what orders, stock and channels name"
BARCODE = "EAN-13, EAN-8, UPC-A or GTIN-14 with a valid check digit; unique in the tenant"
VARIANT_ATTRIBUTES = "what tells the variants apart (size, colour, ...), free keys"
PRICE = "list price of one unit, integer minor units (fen), the same on every channel"
TITLE = "the product's name shoppers see"
CATEGORY = "a path such as women/dresses (normalised to lower case)"
PRODUCT_ATTRIBUTES = "what all variants share (material, season, ...), free keys"
STATUS = "active (sold) or archived (no longer sold; kept for orders that name it)"


class VariantIn(Input):
    sku: Code = Field(description=SKU)
    barcode: Barcode | None = Field(None, description=BARCODE)
    attributes: Attributes = Field({}, description=VARIANT_ATTRIBUTES)
    price: Money = Field(description=PRICE)

    _barcode = field_validator("barcode")(_check_barcode)


class ProductIn(Input):
    code: Code = Field(description="the product's code (style number), unique in the tenant")
    title: Annotated[str, Field(min_length=1, max_length=300)] = Field(description=TITLE)
    category: Annotated[str, Field(min_length=1, max_length=200)] = Field(description=CATEGORY)
    attributes: Attributes = Field({}, description=PRODUCT_ATTRIBUTES)
    status: ProductStatus = Field(ProductStatus.ACTIVE, description=STATUS)
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=500)] = Field(
        description="the SKUs sold: 1 to 500"
    )

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

    sku: Code = Field(description="the variant to change, or to add")
    barcode: Barcode | None = Field(None, description=BARCODE)
    attributes: Attributes | None = Field(None, description=VARIANT_ATTRIBUTES)
    price: Money | None = Field(None, description=PRICE + "; a change is kept in price history")

    _barcode = field_validator("barcode")(_check_barcode)


class ProductPatch(Input):
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        None, description=TITLE
    )
    category: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description=CATEGORY
    )
    attributes: Attributes | None = Field(None, description=PRODUCT_ATTRIBUTES)
    status: ProductStatus | None = Field(None, description=STATUS)
    variants: Annotated[list[VariantPatch], Field(max_length=500)] | None = Field(
        None, description="variants to change or add; those not named are left as they are"
    )

    _category = field_validator("category")(_check_category)

    @model_validator(mode="after")
    def _not_empty(self) -> ProductPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class VariantOut(Output):
    sku: str = Field(description=SKU)
    barcode: str | None = Field(description=BARCODE)
    attributes: dict[str, Any] = Field(description=VARIANT_ATTRIBUTES)
    price: int = Field(description=PRICE)


class ProductOut(Output):
    code: str = Field(description="the product's code (style number)")
    title: str = Field(description=TITLE)
    category: str = Field(description=CATEGORY)
    attributes: dict[str, Any] = Field(description=PRODUCT_ATTRIBUTES)
    status: ProductStatus = Field(description=STATUS)
    variants: list[VariantOut] = Field(description="the SKUs sold")
    created_at: dt.datetime = Field(description="when it was created (UTC, read-only)")
    updated_at: dt.datetime = Field(description="latest change (UTC, read-only)")


class PriceChangeOut(Output):
    sku: str = Field(description="the variant's SKU")
    old_price: int | None = Field(description="price before, fen; null for the first price")
    new_price: int = Field(description="price after, integer minor units (fen)")
    actor: str = Field(description="the key or staff member that changed it")
    changed_at: dt.datetime = Field(description="when (UTC)")
