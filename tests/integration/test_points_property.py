"""Property: whatever happens, balance == sum of the ledger == what remains in the lots."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omniretail.db import Database, UnitOfWork, utcnow
from omniretail.loyalty import service as loyalty
from omniretail.loyalty.ledger import InsufficientPoints
from tests.customers_factories import earn, make_customer
from tests.factories import TenantHandle

_keys = itertools.count(1)

Op = st.tuples(
    st.sampled_from(["earn", "redeem", "adjust", "expire", "reverse"]),
    st.integers(min_value=-3000, max_value=3000),
    st.integers(min_value=0, max_value=800),
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(Op, min_size=1, max_size=14))
async def test_the_ledger_sum_equals_the_balance_after_any_sequence(
    db: Database, tenant: TenantHandle, ops: list[tuple[str, int, int]]
) -> None:
    cid = await make_customer(db, tenant)
    orders: list[str] = []
    for kind, n, days_ago in ops:
        n_abs = abs(n) or 1
        async with db.uow(tenant.id) as uow:
            with contextlib.suppress(InsufficientPoints):
                await apply(uow, cid, kind, n, n_abs, days_ago, orders)
        async with db.uow(tenant.id) as uow:
            check = await loyalty.check_points_ledger(uow, customer_id=cid)
        assert check.consistent, (kind, n, check)
        assert check.balance >= 0
        if kind == "earn":
            order = f"P-{next(_keys)}"
            await earn(
                db,
                tenant,
                cid,
                n_abs * 100,
                order_ref=order,
                at=utcnow() - dt.timedelta(days=days_ago),
            )
            orders.append(order)


async def apply(
    uow: UnitOfWork, cid: str, kind: str, n: int, n_abs: int, days_ago: int, orders: list[str]
) -> None:
    key = f"prop-{next(_keys)}"
    if kind == "redeem":
        await loyalty.do_redeem_points(
            uow,
            customer_id=cid,
            points=n_abs,
            reason="p",
            order_ref=orders[-1] if orders and n % 2 else None,
            idempotency_key=key,
        )
    elif kind == "adjust":
        await loyalty.do_adjust_points(
            uow, customer_id=cid, points=n or 1, reason="p", idempotency_key=key, actor="p"
        )
    elif kind == "expire":
        await loyalty.do_expire_points(uow, now=utcnow() + dt.timedelta(days=days_ago))
    elif kind == "reverse" and orders:
        await loyalty.do_reverse_for_return(
            uow,
            customer_id=cid,
            order_ref=orders[n_abs % len(orders)],
            return_ref=key,
            returned_value=n_abs,
            order_value=3000,
        )
