"""Writing a placed order: the order, its lines, payments, fulfilments and their lines, and
the order's events, with Core statements built once (no ORM flush, no re-read).

PostgreSQL: ONE statement of data-modifying CTEs (the order's ``RETURNING id`` feeds the
lines, payments and fulfilments; the fulfilments' ``RETURNING`` feeds their lines); for a
till sale, the sale's own statement with these CTEs added (:func:`carried_by_sale`), so the
order and its stock are one round trip and the stock rows are locked by the last statement. The rows
of each table come as arrays ``unnest``-ed in order (``WITH ORDINALITY``), so every order has
the same SQL text, compiled and prepared once whatever its size (a multi-row ``VALUES`` list
is not cacheable). SQLite (no data-modifying CTEs; in process, a statement costs no round
trip): one INSERT per table, the lines by ``executemany``; the events are staged with the unit
of work's others (one INSERT at its commit).

Tenant scoping: every row's ``tenant_id`` is the unit of work's tenant, bound here and never
taken from the caller; :func:`check_tenant_inserts` refuses, when the statement is built, an
INSERT whose ``tenant_id`` is not that bind.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import visitors

from omniretail.db import JsonType, TenantScopeError, UnitOfWork, UTCDateTime, unnested, utcnow
from omniretail.events import OUTBOX, OUTBOX_INSERT_COLUMNS, stage_event
from omniretail.inventory import sales
from omniretail.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine, Payment
from omniretail.scoped import execute_bound, tenant_bound

ORDERS = cast(sa.Table, Order.__table__)
LINES = cast(sa.Table, OrderLine.__table__)
PAYMENTS = cast(sa.Table, Payment.__table__)
FULFILMENTS = cast(sa.Table, Fulfilment.__table__)
FULFILMENT_LINES = cast(sa.Table, FulfilmentLine.__table__)

# Named apart from every column (and from ``scoped.TENANT``): the tenant of every row written.
TENANT_BIND = "placing_tenant"

# The order row's own columns, as the caller gives them (no id, no tenant).
ORDER_COLUMNS = (
    "public_id",
    "number",
    "channel",
    "customer_id",
    "status",
    "mode",
    "placed_at_location",
    "attributed_location",
    "attributed_staff",
    "currency",
    "subtotal",
    "discount_total",
    "delivery_fee",
    "total",
    "points_redeemed",
    "paid_amount",
    "coupon_codes",
    "address",
    "sourcing",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class NewLine:
    sku: str
    title: str
    qty: int
    unit_price: int
    discount: int
    line_total: int
    discounts: list[dict[str, Any]]
    returned_qty: int = 0


@dataclass(frozen=True, slots=True)
class NewPayment:
    method: str
    amount: int
    status: str
    provider_ref: str | None
    refunded_amount: int = 0


@dataclass(frozen=True, slots=True)
class NewFulfilmentLine:
    sku: str
    qty: int


@dataclass(slots=True)
class NewFulfilment:
    public_id: str
    location_id: int
    location_code: str
    mode: str
    status: str
    distance_km: float | None
    promised_at: dt.datetime
    reservation_id: str | None
    transfer_from: list[dict[str, Any]]
    lines: list[NewFulfilmentLine] = field(default_factory=list)
    pickup_code_digest: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event of the order (``aggregate_type`` ``order``, its public id as aggregate id)."""

    type: str
    payload: dict[str, Any]


@dataclass(slots=True)
class NewOrder:
    """Everything checkout writes of an order, as plain values (also what its response is
    built from: nothing is read back)."""

    public_id: str
    number: str
    channel: str
    customer_id: str | None
    status: str
    mode: str
    placed_at_location: str | None
    attributed_location: str | None
    attributed_staff: str | None
    currency: str
    subtotal: int
    discount_total: int
    delivery_fee: int
    total: int
    points_redeemed: int
    paid_amount: int
    coupon_codes: list[str]
    address: dict[str, Any] | None
    sourcing: dict[str, Any]
    created_at: dt.datetime
    lines: list[NewLine] = field(default_factory=list)
    payments: list[NewPayment] = field(default_factory=list)
    fulfilments: list[NewFulfilment] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    attribution: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ORDER_COLUMNS}


def check_tenant_inserts(statement: sa.Executable) -> None:
    """Refuse ``statement`` unless every INSERT in it (its CTEs' too) writes ``tenant_id``
    from the ``TENANT_BIND`` parameter: a statement that forgets the tenant, or takes it from
    anywhere else, cannot be built."""
    inserts = [e for e in visitors.iterate(cast(Any, statement)) if isinstance(e, sa.Insert)]
    if not inserts:
        raise TenantScopeError("no INSERT to check")
    for insert in inserts:
        table = cast(sa.Table, insert.table)
        if "tenant_id" not in table.c:
            continue
        value: Any = None
        if insert.select is not None:
            names = [getattr(n, "name", n) for n in insert._select_names or ()]
            if "tenant_id" in names:
                value = insert.select.selected_columns[names.index("tenant_id")]
        else:
            for key, bound in (insert._values or {}).items():
                if getattr(key, "name", key) == "tenant_id":
                    value = bound
        while isinstance(value, sa.Label):
            value = value.element
        if not (isinstance(value, sa.BindParameter) and value.key == TENANT_BIND):
            raise TenantScopeError(f"INSERT INTO {table.name} does not bind the tenant")


def _graph_ctes(tenant: sa.BindParameter[Any]) -> tuple[sa.CTE, list[sa.CTE]]:
    """PostgreSQL: the whole order as CTEs (see the module's docstring): the order's INSERT
    (``RETURNING id``) and the others, which read it."""
    # When the rows were written (what the ORM's column defaults gave): the checkout's own
    # ``now`` may be another time (a replayed history).
    written_at = sa.bindparam("written_at", type_=UTCDateTime)
    placed = (
        sa.insert(ORDERS)
        .values(
            {"tenant_id": tenant, "updated_at": written_at}
            | {name: sa.bindparam(f"o_{name}", type_=ORDERS.c[name].type) for name in ORDER_COLUMNS}
        )
        .returning(ORDERS.c.id)
        .cte("placed")
    )
    lines = unnested(
        "l",
        [
            ("sku", sa.String()),
            ("title", sa.String()),
            ("qty", sa.Integer()),
            ("unit_price", sa.BigInteger()),
            ("discount", sa.BigInteger()),
            ("line_total", sa.BigInteger()),
            ("discounts", sa.Text()),
        ],
    )
    jsonb = postgresql.JSONB()
    written_lines = sa.insert(LINES).from_select(
        [
            "tenant_id",
            "order_id",
            "sku",
            "title",
            "qty",
            "unit_price",
            "discount",
            "line_total",
            "discounts",
            "returned_qty",
        ],
        sa.select(
            tenant,
            placed.c.id,
            lines.c.sku,
            lines.c.title,
            lines.c.qty,
            lines.c.unit_price,
            lines.c.discount,
            lines.c.line_total,
            sa.cast(lines.c.discounts, jsonb),
            sa.literal(0, sa.Integer),
        )
        .select_from(placed.join(lines, sa.true()))
        .order_by(lines.c.n),
    )
    payments = unnested(
        "p",
        [
            ("method", sa.String()),
            ("amount", sa.BigInteger()),
            ("status", sa.String()),
            ("provider_ref", sa.String()),
        ],
    )
    created_at = sa.bindparam("o_created_at", type_=UTCDateTime)
    written_payments = sa.insert(PAYMENTS).from_select(
        [
            "tenant_id",
            "order_id",
            "method",
            "amount",
            "status",
            "provider_ref",
            "refunded_amount",
            "created_at",
        ],
        sa.select(
            tenant,
            placed.c.id,
            payments.c.method,
            payments.c.amount,
            payments.c.status,
            payments.c.provider_ref,
            sa.literal(0, sa.BigInteger),
            written_at,
        )
        .select_from(placed.join(payments, sa.true()))
        .order_by(payments.c.n),
    )
    fulfilments = unnested(
        "f",
        [
            ("public_id", sa.String()),
            ("location_id", sa.BigInteger()),
            ("location_code", sa.String()),
            ("distance_km", sa.Float()),
            ("pickup_code_digest", sa.String()),
        ],
    )
    written_fulfilments = (
        sa.insert(FULFILMENTS)
        .from_select(
            [
                "tenant_id",
                "order_id",
                "public_id",
                "location_id",
                "location_code",
                "mode",
                "status",
                "distance_km",
                "promised_at",
                "reservation_id",
                "pickup_code_digest",
                "transfer_from",
                "created_at",
                "updated_at",
            ],
            sa.select(
                tenant,
                placed.c.id,
                fulfilments.c.public_id,
                fulfilments.c.location_id,
                fulfilments.c.location_code,
                sa.bindparam("f_mode", type_=sa.String),
                sa.bindparam("f_status", type_=sa.String),
                fulfilments.c.distance_km,
                sa.bindparam("f_promised_at", type_=UTCDateTime),
                sa.bindparam("f_reservation_id", type_=sa.String),
                fulfilments.c.pickup_code_digest,
                sa.bindparam("f_transfer_from", type_=JsonType),
                created_at,
                written_at,
            )
            .select_from(placed.join(fulfilments, sa.true()))
            .order_by(fulfilments.c.n),
        )
        .returning(FULFILMENTS.c.id, FULFILMENTS.c.public_id)
        .cte("fulfilled")
    )
    fulfilment_lines = unnested(
        "fl", [("fulfilment", sa.String()), ("sku", sa.String()), ("qty", sa.Integer())]
    )
    written_fulfilment_lines = sa.insert(FULFILMENT_LINES).from_select(
        ["tenant_id", "fulfilment_id", "sku", "qty"],
        sa.select(tenant, written_fulfilments.c.id, fulfilment_lines.c.sku, fulfilment_lines.c.qty)
        .select_from(
            written_fulfilments.join(
                fulfilment_lines,
                written_fulfilments.c.public_id == fulfilment_lines.c.fulfilment,
            )
        )
        .order_by(fulfilment_lines.c.n),
    )
    events = unnested("e", [("type", sa.String()), ("payload", sa.Text())])
    written_events = sa.insert(OUTBOX).from_select(
        OUTBOX_INSERT_COLUMNS,
        sa.select(
            tenant,
            events.c.type,
            sa.literal("order", sa.String),
            sa.bindparam("o_public_id", type_=sa.String),
            sa.cast(events.c.payload, jsonb),
            written_at,
            sa.literal(0, sa.Integer),
        ).order_by(events.c.n),
    )
    return placed, [
        written_lines.cte("lined"),
        written_payments.cte("paid"),
        written_fulfilment_lines.cte("fulfilment_lined"),
        written_events.cte("order_announced"),
    ]


def _graph_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The order alone, and the order with a till's sale (``sales.sale_statement``, its
    rows locked last): both built once, checked once."""
    tenant = sa.bindparam(TENANT_BIND, type_=sa.BigInteger)
    placed, written = _graph_ctes(tenant)
    alone = sa.select(placed.c.id).add_cte(*written)
    with_sale = sales.sale_statement(tenant).add_cte(placed, *written)
    for statement in (alone, with_sale):
        check_tenant_inserts(statement)
    # Run by the sale through the session: as built, without the ORM's tenant criteria (it
    # binds its tenant on every table, checked here), so its cache key is worked out once.
    return alone, tenant_bound(with_sale, bind=TENANT_BIND)


_GRAPH, _GRAPH_AND_SALE = _graph_statements()


def _graph_parameters(order: NewOrder) -> dict[str, Any]:
    first = order.fulfilments[0] if order.fulfilments else None
    return {
        "written_at": utcnow(),
        **{f"o_{name}": value for name, value in order.row().items()},
        "l_sku": [line.sku for line in order.lines],
        "l_title": [line.title for line in order.lines],
        "l_qty": [line.qty for line in order.lines],
        "l_unit_price": [line.unit_price for line in order.lines],
        "l_discount": [line.discount for line in order.lines],
        "l_line_total": [line.line_total for line in order.lines],
        "l_discounts": [json.dumps(line.discounts) for line in order.lines],
        "p_method": [p.method for p in order.payments],
        "p_amount": [p.amount for p in order.payments],
        "p_status": [p.status for p in order.payments],
        "p_provider_ref": [p.provider_ref for p in order.payments],
        "f_public_id": [f.public_id for f in order.fulfilments],
        "f_location_id": [f.location_id for f in order.fulfilments],
        "f_location_code": [f.location_code for f in order.fulfilments],
        "f_distance_km": [f.distance_km for f in order.fulfilments],
        "f_pickup_code_digest": [f.pickup_code_digest for f in order.fulfilments],
        # One order's fulfilments share these (checkout's one mode, promise and hold).
        "f_mode": first.mode if first else None,
        "f_status": first.status if first else None,
        "f_promised_at": first.promised_at if first else None,
        "f_reservation_id": first.reservation_id if first else None,
        "f_transfer_from": first.transfer_from if first else [],
        "fl_fulfilment": [f.public_id for f in order.fulfilments for _ in f.lines],
        "fl_sku": [line.sku for f in order.fulfilments for line in f.lines],
        "fl_qty": [line.qty for f in order.fulfilments for line in f.lines],
        "e_type": [e.type for e in order.events],
        "e_payload": [json.dumps(e.payload) for e in order.events],
    }


def _shared(fulfilments: Sequence[NewFulfilment]) -> bool:
    first = fulfilments[0]
    return all(
        (f.mode, f.status, f.promised_at, f.reservation_id, f.transfer_from)
        == (first.mode, first.status, first.promised_at, first.reservation_id, first.transfer_from)
        for f in fulfilments
    )


async def write_order(uow: UnitOfWork, order: NewOrder) -> None:
    """Insert ``order`` with all its rows and events in ``uow``'s transaction, for ``uow``'s
    tenant; nothing is read back (the ids are never shown)."""
    tenant_id = uow.require_tenant()
    if order.fulfilments and not _shared(order.fulfilments):
        raise ValueError("an order's fulfilments share their mode, status, promise and hold")
    if uow.dialect == "postgresql":
        # Flushes the session first (as read_in does): ORM rows it holds are written before.
        await execute_bound(uow, _GRAPH, TENANT_BIND, _graph_parameters(order))
        if order.events:
            uow.wrote_events = True
        return
    await _write_one_by_table(uow, tenant_id, order)


def carried_by_sale(order: NewOrder) -> sales.CarriedSale:
    """``order`` written by the statement of its till sale (``sales.do_sell_in_store``
    binds the tenant): one round trip for the order and its stock, taken last."""
    if order.fulfilments and not _shared(order.fulfilments):
        raise ValueError("an order's fulfilments share their mode, status, promise and hold")
    return sales.CarriedSale(_GRAPH_AND_SALE, TENANT_BIND, _graph_parameters(order), alone=_GRAPH)


def _insert(table: sa.Table) -> sa.Insert:
    """SQLite: an INSERT of ``table`` whose rows take their tenant from ``TENANT_BIND``."""
    return sa.insert(table).values(tenant_id=sa.bindparam(TENANT_BIND, type_=sa.BigInteger))


_INSERT_ORDER = _insert(ORDERS).returning(ORDERS.c.id)
_INSERT_FULFILMENTS = _insert(FULFILMENTS).returning(FULFILMENTS.c.id, FULFILMENTS.c.public_id)
_INSERT_FULFILMENT_LINES = _insert(FULFILMENT_LINES)
_INSERT_LINES = _insert(LINES)
_INSERT_PAYMENTS = _insert(PAYMENTS)
for _statement in (
    _INSERT_ORDER,
    _INSERT_FULFILMENTS,
    _INSERT_FULFILMENT_LINES,
    _INSERT_LINES,
    _INSERT_PAYMENTS,
):
    check_tenant_inserts(_statement)


async def _write_one_by_table(uow: UnitOfWork, tenant_id: int, order: NewOrder) -> None:
    """SQLite: one INSERT per table (a statement costs no round trip in process); the events
    are staged for the unit of work's one INSERT at its commit."""
    connection = await uow.connection()  # the session's rows flushed first
    written_at = utcnow()
    order_id = (
        await connection.execute(
            _INSERT_ORDER, {TENANT_BIND: tenant_id, "updated_at": written_at, **order.row()}
        )
    ).scalar_one()
    if order.fulfilments:
        created = await connection.execute(
            _INSERT_FULFILMENTS,
            [
                {
                    TENANT_BIND: tenant_id,
                    "order_id": order_id,
                    "public_id": f.public_id,
                    "location_id": f.location_id,
                    "location_code": f.location_code,
                    "mode": f.mode,
                    "status": f.status,
                    "distance_km": f.distance_km,
                    "promised_at": f.promised_at,
                    "reservation_id": f.reservation_id,
                    "pickup_code_digest": f.pickup_code_digest,
                    "transfer_from": f.transfer_from,
                    "created_at": order.created_at,
                    "updated_at": written_at,
                }
                for f in order.fulfilments
            ],
        )
        ids = {row.public_id: row.id for row in created}
        fulfilment_lines = [
            {TENANT_BIND: tenant_id, "fulfilment_id": ids[f.public_id], "sku": x.sku, "qty": x.qty}
            for f in order.fulfilments
            for x in f.lines
        ]
        if fulfilment_lines:
            await connection.execute(_INSERT_FULFILMENT_LINES, fulfilment_lines)
    if order.lines:
        await connection.execute(
            _INSERT_LINES,
            [
                {
                    TENANT_BIND: tenant_id,
                    "order_id": order_id,
                    "sku": x.sku,
                    "title": x.title,
                    "qty": x.qty,
                    "unit_price": x.unit_price,
                    "discount": x.discount,
                    "line_total": x.line_total,
                    "discounts": x.discounts,
                    "returned_qty": x.returned_qty,
                }
                for x in order.lines
            ],
        )
    if order.payments:
        await connection.execute(
            _INSERT_PAYMENTS,
            [
                {
                    TENANT_BIND: tenant_id,
                    "order_id": order_id,
                    "method": p.method,
                    "amount": p.amount,
                    "status": p.status,
                    "provider_ref": p.provider_ref,
                    "refunded_amount": p.refunded_amount,
                    "created_at": written_at,
                }
                for p in order.payments
            ],
        )
    for e in order.events:
        stage_event(
            uow,
            e.type,
            aggregate_type="order",
            aggregate_id=order.public_id,
            payload=e.payload,
            occurred_at=written_at,
        )
