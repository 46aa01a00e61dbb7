"""Use cases of the catalogue.

The list price lives on the variant: one price per SKU per tenant, the same on every channel
(EDLP). Every price set or changed is written to the audit log and raised as ``price.changed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from omniretail.catalog.models import PriceChange, Product, Variant
from omniretail.catalog.schemas import (
    PriceChangeOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProductStatus,
    VariantOut,
)
from omniretail.db import UnitOfWork, contains, utcnow
from omniretail.errors import AlreadyExists, NotFound, ValidationFailed
from omniretail.events import record_event, record_events
from omniretail.scoped import ONE_OF, TENANT, TenantStatement, read_in, tenant_statement

# The bind of the SKUs whose variants are read (:data:`VARIANTS_OF_SKUS`).
VARIANT_SKUS = "variant_skus"


@dataclass(frozen=True, slots=True)
class VariantInfo:
    """What other contexts (pricing, inventory, orders) need to know of a SKU."""

    id: int
    sku: str
    barcode: str | None
    product_code: str
    title: str
    category: str
    price: int
    active: bool


def to_out(product: Product) -> ProductOut:
    return ProductOut(
        code=product.code,
        title=product.title,
        category=product.category,
        attributes=product.attributes,
        status=ProductStatus(product.status),
        variants=[
            VariantOut(sku=v.sku, barcode=v.barcode, attributes=v.attributes, price=v.price)
            for v in product.variants
        ],
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def _taken(uow: UnitOfWork, column: Any, values: Iterable[str]) -> list[str]:
    wanted = [v for v in values if v]
    if not wanted:
        return []
    return list((await uow.session.scalars(sa.select(column).where(column.in_(wanted)))).all())


async def check_new_identifiers(
    uow: UnitOfWork,
    *,
    skus: list[str],
    barcodes: list[str],
    exclude_variant_ids: frozenset[int] | set[int] = frozenset(),
) -> None:
    """SKUs and barcodes are unique per tenant: a clash is a 409 naming each one."""
    errors: list[dict[str, Any]] = []
    taken_skus = await _taken(uow, Variant.sku, skus)
    errors += [{"field": "sku", "value": s, "message": "already used"} for s in taken_skus]
    rows = (
        (
            await uow.session.execute(
                sa.select(Variant.id, Variant.barcode).where(Variant.barcode.in_(barcodes))
            )
        ).all()
        if barcodes
        else []
    )
    errors += [
        {"field": "barcode", "value": code, "message": "already used"}
        for variant_id, code in rows
        if variant_id not in exclude_variant_ids
    ]
    if errors:
        raise AlreadyExists("sku or barcode already used in this catalogue", errors=errors)


def _audit_price(uow: UnitOfWork, variant: Variant, old: int | None, actor: str) -> None:
    uow.session.add(
        PriceChange(
            variant_id=variant.id,
            sku=variant.sku,
            old_price=old,
            new_price=variant.price,
            actor=actor,
        )
    )
    record_event(
        uow,
        "price.changed",
        aggregate_type="sku",
        aggregate_id=variant.sku,
        payload={"sku": variant.sku, "old_price": old, "new_price": variant.price, "actor": actor},
    )


async def do_create_product(uow: UnitOfWork, *, data: ProductIn, actor: str) -> ProductOut:
    exists = await uow.session.scalar(sa.select(Product.id).where(Product.code == data.code))
    if exists is not None:
        raise AlreadyExists(f"product {data.code!r} already exists", field="code")
    await check_new_identifiers(
        uow,
        skus=[v.sku for v in data.variants],
        barcodes=[v.barcode for v in data.variants if v.barcode],
    )
    product = Product(
        code=data.code,
        title=data.title,
        category=data.category,
        attributes=data.attributes,
        status=data.status.value,
    )
    product.variants = [
        Variant(sku=v.sku, barcode=v.barcode, attributes=v.attributes, price=v.price)
        for v in data.variants
    ]
    uow.session.add(product)
    await uow.flush()
    for variant in product.variants:
        _audit_price(uow, variant, None, actor)
    out = to_out(product)
    record_event(
        uow,
        "product.created",
        aggregate_type="product",
        aggregate_id=product.code,
        payload={"code": product.code, "skus": [v.sku for v in product.variants]},
    )
    return out


async def access_product(uow: UnitOfWork, code: str) -> Product:
    product = await uow.session.scalar(sa.select(Product).where(Product.code == code))
    if product is None:
        raise NotFound("product", code)
    return product


async def get_product(uow: UnitOfWork, code: str) -> ProductOut:
    return to_out(await access_product(uow, code))


async def list_products(
    uow: UnitOfWork,
    *,
    limit: int,
    after: Any = None,
    category: str | None = None,
    status: ProductStatus | None = None,
    q: str | None = None,
) -> list[ProductOut]:
    """By code; ``q`` matches a part of the code or title, or a variant's SKU or barcode."""
    query = sa.select(Product).order_by(Product.code).limit(limit + 1)
    if q:
        variants = sa.select(Variant.product_id).where(
            sa.or_(
                contains(Variant.sku, q),
                Variant.barcode == q.strip(),
            )
        )
        query = query.where(
            sa.or_(
                contains(Product.code, q),
                contains(Product.title, q),
                Product.id.in_(variants),
            )
        )
    if after is not None:
        query = query.where(Product.code > str(after))
    if category:
        query = query.where(
            sa.or_(Product.category == category, Product.category.startswith(category + "/"))
        )
    if status is not None:
        query = query.where(Product.status == status.value)
    return [to_out(p) for p in await uow.session.scalars(query)]


async def product_by_sku(uow: UnitOfWork, sku: str) -> ProductOut:
    """The whole product behind one SKU, with every variant (cloud shelf)."""
    product = await uow.session.scalar(
        sa.select(Product).join(Variant, Variant.product_id == Product.id).where(Variant.sku == sku)
    )
    if product is None:
        raise NotFound("sku", sku)
    return to_out(product)


async def product_by_barcode(uow: UnitOfWork, barcode: str) -> ProductOut:
    """A scanned barcode resolves to its whole product with every variant (cloud shelf)."""
    product = await uow.session.scalar(
        sa.select(Product)
        .join(Variant, Variant.product_id == Product.id)
        .where(Variant.barcode == barcode)
    )
    if product is None:
        raise NotFound("barcode", barcode)
    return to_out(product)


async def do_update_product(
    uow: UnitOfWork, *, code: str, patch: ProductPatch, actor: str
) -> ProductOut:
    product = await access_product(uow, code)
    changes = patch.model_dump(exclude_unset=True, exclude={"variants"})
    for field in ("title", "category", "attributes", "status"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(
                f"{field} cannot be cleared", [{"field": field, "message": "required"}]
            )
    for field, value in changes.items():
        setattr(product, field, value)
    if patch.variants:
        await _apply_variant_patches(uow, product, patch, actor)
    await uow.flush()
    await uow.session.refresh(product, ["updated_at"])
    record_event(
        uow,
        "product.updated",
        aggregate_type="product",
        aggregate_id=product.code,
        payload={"code": product.code, "changed": sorted(patch.model_fields_set)},
    )
    return to_out(product)


async def _apply_variant_patches(
    uow: UnitOfWork, product: Product, patch: ProductPatch, actor: str
) -> None:
    assert patch.variants is not None
    by_sku = {v.sku: v for v in product.variants}
    new = [v for v in patch.variants if v.sku not in by_sku]
    missing_price = [
        {"field": f"variants.{v.sku}.price", "message": "required for a new sku"}
        for v in new
        if v.price is None
    ]
    if missing_price:
        raise ValidationFailed("a new variant needs a price", missing_price)
    await check_new_identifiers(
        uow,
        skus=[v.sku for v in new],
        barcodes=[v.barcode for v in patch.variants if v.barcode],
        exclude_variant_ids={by_sku[v.sku].id for v in patch.variants if v.sku in by_sku},
    )
    for change in patch.variants:
        variant = by_sku.get(change.sku)
        if variant is None:
            assert change.price is not None
            variant = Variant(
                sku=change.sku,
                barcode=change.barcode,
                attributes=change.attributes or {},
                price=change.price,
            )
            product.variants.append(variant)
            await uow.flush()
            _audit_price(uow, variant, None, actor)
            continue
        if change.barcode is not None:
            variant.barcode = change.barcode
        if change.attributes is not None:
            variant.attributes = change.attributes
        if change.price is not None and change.price != variant.price:
            old = variant.price
            variant.price = change.price
            _audit_price(uow, variant, old, actor)


_VARIANT_COLUMNS = (
    Variant.id,
    Variant.sku,
    Variant.barcode,
    Variant.price,
    Product.code,
    Product.title,
    Product.category,
    Product.status,
)


def _variants_by_sku(skus: sa.ColumnElement[bool]) -> TenantStatement:
    return tenant_statement(
        sa.select(*_VARIANT_COLUMNS)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.tenant_id == sa.bindparam(TENANT), Product.tenant_id == sa.bindparam(TENANT))
        .where(skus)
    )


# PostgreSQL: the SKUs as one array (``= ANY``), so the statement's text is the same for any
# number of SKUs and nothing is rewritten per execution; SQLite (no arrays): an expanding IN.
_ANY_SKU = ONE_OF["postgresql"](Variant.sku, VARIANT_SKUS)
_VARIANTS_BY_SKU = {
    dialect: _variants_by_sku(one_of(Variant.sku, VARIANT_SKUS))
    for dialect, one_of in ONE_OF.items()
}

VARIANTS_OF_SKUS: sa.ScalarSelect[Any] = (
    sa.select(sa.func.array_agg(sa.tuple_(*_VARIANT_COLUMNS), type_=sa.types.NullType()))
    .join(Product, Product.id == Variant.product_id)
    .where(Variant.tenant_id == sa.bindparam(TENANT), Product.tenant_id == sa.bindparam(TENANT))
    .where(_ANY_SKU)
    .scalar_subquery()
)
"""PostgreSQL: the variants of the SKUs bound as ``VARIANT_SKUS`` (a list) as one value, a
column another context's statement may carry (e.g. ``auth.terms_statement``), so a use case
reads them in a round trip it makes anyway; :func:`variants_from` turns it into what
:func:`variants_by_sku` returns."""


def variants_from(records: Sequence[Sequence[Any]] | None) -> dict[str, VariantInfo]:
    """The value of :data:`VARIANTS_OF_SKUS` as :func:`variants_by_sku` gives it."""
    return {
        sku: VariantInfo(
            id=id_,
            sku=sku,
            barcode=barcode,
            product_code=code,
            title=title,
            category=category,
            price=price,
            active=status == ProductStatus.ACTIVE.value,
        )
        for id_, sku, barcode, price, code, title, category, status in records or ()
    }


async def variants_by_sku(uow: UnitOfWork, skus: Iterable[str]) -> dict[str, VariantInfo]:
    """One query for many SKUs; unknown SKUs are simply absent from the result."""
    wanted = list(dict.fromkeys(skus))
    if not wanted:
        return {}
    rows = await read_in(uow, _VARIANTS_BY_SKU[uow.dialect], **{VARIANT_SKUS: wanted})
    return {
        row.sku: VariantInfo(
            id=row.id,
            sku=row.sku,
            barcode=row.barcode,
            product_code=row.code,
            title=row.title,
            category=row.category,
            price=row.price,
            active=row.status == ProductStatus.ACTIVE.value,
        )
        for row in rows
    }


async def price_history(uow: UnitOfWork, sku: str, *, limit: int = 100) -> list[PriceChangeOut]:
    rows = await uow.session.scalars(
        sa.select(PriceChange)
        .where(PriceChange.sku == sku)
        .order_by(PriceChange.id.desc())
        .limit(limit)
    )
    return [PriceChangeOut.model_validate(row) for row in rows]


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    created: int
    updated: int
    conflicts: list[tuple[str, str, str]]  # (sku, field, message)


def _chunks(values: list[str], size: int = 900) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


async def do_upsert_products(
    uow: UnitOfWork, *, products: list[ProductIn], actor: str, dry_run: bool = False
) -> UpsertOutcome:
    """Create or update many products at once (an import): a handful of queries and bulk
    statements, whatever the count. Existing products keep their code and take the new title,
    category and attributes; existing variants take the new barcode, attributes and price (a
    price change is audited and raised as ``price.changed``). A SKU that belongs to another
    product, or a barcode another SKU has, is a conflict and nothing is written."""
    codes = [p.code for p in products]
    skus = [v.sku for p in products for v in p.variants]
    barcodes = [v.barcode for p in products for v in p.variants if v.barcode]
    existing = {}
    for chunk in _chunks(codes):
        existing.update(
            {
                p.code: p
                for p in await uow.session.scalars(
                    sa.select(Product).where(Product.code.in_(chunk))
                )
            }
        )
    variants: dict[str, Variant] = {}
    for chunk in _chunks(skus):
        variants.update(
            {
                v.sku: v
                for v in await uow.session.scalars(sa.select(Variant).where(Variant.sku.in_(chunk)))
            }
        )
    owners: dict[str, str] = {}
    for chunk in _chunks(barcodes):
        rows = await uow.session.execute(
            sa.select(Variant.barcode, Variant.sku).where(Variant.barcode.in_(chunk))
        )
        owners.update({str(b): str(s) for b, s in rows})
    conflicts = _conflicts(products, existing, variants, owners)
    if conflicts or dry_run:
        return UpsertOutcome(
            sum(p.code not in existing for p in products),
            sum(p.code in existing for p in products),
            conflicts,
        )
    await _insert_new(uow, [p for p in products if p.code not in existing], actor)
    added: list[Variant] = []
    for product in (p for p in products if p.code in existing):
        added += _update_existing(uow, existing[product.code], product, variants, actor)
    await uow.flush()
    for variant in added:
        _audit_price(uow, variant, None, actor)
    return UpsertOutcome(
        sum(p.code not in existing for p in products), sum(p.code in existing for p in products), []
    )


def _conflicts(
    products: list[ProductIn],
    existing: dict[str, Product],
    variants: dict[str, Variant],
    owners: dict[str, str],
) -> list[tuple[str, str, str]]:
    found = []
    for product in products:
        own_id = existing[product.code].id if product.code in existing else None
        for v in product.variants:
            known = variants.get(v.sku)
            if known is not None and known.product_id != own_id:
                found.append((v.sku, "sku", "belongs to another product"))
            if v.barcode and owners.get(v.barcode, v.sku) != v.sku:
                found.append((v.sku, "barcode", f"already used by sku {owners[v.barcode]}"))
    return found


async def _insert_new(uow: UnitOfWork, products: list[ProductIn], actor: str) -> None:
    if not products:
        return
    tenant_id = uow.require_tenant()
    now = utcnow()
    ids = dict(
        (
            await uow.session.execute(
                sa.insert(Product).returning(Product.code, Product.id),
                [
                    {
                        "tenant_id": tenant_id,
                        "code": p.code,
                        "title": p.title,
                        "category": p.category,
                        "attributes": p.attributes,
                        "status": p.status.value,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p in products
                ],
            )
        ).all()
    )
    variant_ids = dict(
        (
            await uow.session.execute(
                sa.insert(Variant).returning(Variant.sku, Variant.id),
                [
                    {
                        "tenant_id": tenant_id,
                        "product_id": ids[p.code],
                        "sku": v.sku,
                        "barcode": v.barcode,
                        "attributes": v.attributes,
                        "price": v.price,
                        "created_at": now,
                    }
                    for p in products
                    for v in p.variants
                ],
            )
        ).all()
    )
    await uow.session.execute(
        sa.insert(PriceChange),
        [
            {
                "tenant_id": tenant_id,
                "variant_id": variant_ids[v.sku],
                "sku": v.sku,
                "old_price": None,
                "new_price": v.price,
                "actor": actor,
                "changed_at": now,
            }
            for p in products
            for v in p.variants
        ],
    )
    await record_events(
        uow,
        "product.created",
        aggregate_type="product",
        events=[
            (
                p.code,
                {
                    "code": p.code,
                    "skus": [v.sku for v in p.variants],
                    "prices": {v.sku: v.price for v in p.variants},
                },
            )
            for p in products
        ],
    )


def _update_existing(
    uow: UnitOfWork, product: Product, data: ProductIn, variants: dict[str, Variant], actor: str
) -> list[Variant]:
    added: list[Variant] = []
    product.title, product.category, product.attributes = (
        data.title,
        data.category,
        {**product.attributes, **data.attributes},
    )
    for v in data.variants:
        known = variants.get(v.sku)
        if known is None:
            product.variants.append(
                Variant(sku=v.sku, barcode=v.barcode, attributes=v.attributes, price=v.price)
            )
            continue
        known.barcode = v.barcode or known.barcode
        known.attributes = {**known.attributes, **v.attributes}
        if known.price != v.price:
            old, known.price = known.price, v.price
            _audit_price(uow, known, old, actor)
    return added


async def all_products(uow: UnitOfWork) -> list[ProductOut]:
    """Every product with its variants, for an export (two queries)."""
    return [to_out(p) for p in await uow.session.scalars(sa.select(Product).order_by(Product.code))]


_SKUS = "version_skus"
# What changes whenever the price or the product of one of the ``version_skus`` changes (the
# newest audited price change, the newest product update), as two columns another statement
# can carry (each limited to the tenant): lets a caller that priced a cart earlier check
# cheaply, in a statement it reads anyway, that the prices still stand.
PRICES_VERSION: tuple[sa.ScalarSelect[Any], ...] = (
    sa.select(sa.func.max(PriceChange.id))
    .where(
        PriceChange.tenant_id == sa.bindparam(TENANT),
        PriceChange.sku.in_(sa.bindparam(_SKUS, expanding=True)),
    )
    .scalar_subquery(),
    sa.select(sa.func.max(Product.updated_at))
    .join(Variant, Variant.product_id == Product.id)
    .where(
        Variant.tenant_id == sa.bindparam(TENANT),
        Product.tenant_id == sa.bindparam(TENANT),
        Variant.sku.in_(sa.bindparam(_SKUS, expanding=True)),
    )
    .scalar_subquery(),
)


def prices_version_parameters(skus: Iterable[str]) -> dict[str, Any]:
    """The parameters of :data:`PRICES_VERSION` for ``skus``."""
    return {_SKUS: list(dict.fromkeys(skus))}
