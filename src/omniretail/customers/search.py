"""Finding customers: the tenant's list, newest first, searched by name, id or any identity."""

from __future__ import annotations

import contextlib
from collections import defaultdict

import sqlalchemy as sa

from omniretail.customers.domain import IdentityType, InvalidIdentity, normalise_identity
from omniretail.customers.models import Customer, CustomerIdentity
from omniretail.customers.schemas import CustomerOut, IdentityOut
from omniretail.db import UnitOfWork, contains


def _identity_forms(q: str) -> set[str]:
    """What ``q`` would be stored as if it were a phone, an e-mail or an opaque id."""
    forms = {q.strip()}
    for kind in (IdentityType.PHONE, IdentityType.EMAIL):
        with contextlib.suppress(InvalidIdentity):
            forms.add(normalise_identity(kind, q))
    return forms


async def list_customers(
    uow: UnitOfWork, *, limit: int, after: int | None = None, q: str | None = None
) -> list[tuple[int, CustomerOut]]:
    """Customers that were not merged away, newest first, each with its cursor value. ``q``
    matches a customer id exactly, any identity exactly (a phone in any spelling:
    ``138 0013 8000`` finds ``+8613800138000``), or a part of the name. Three queries per page."""
    query = (
        sa.select(Customer)
        .where(Customer.merged_into_id.is_(None))
        .order_by(Customer.id.desc())
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Customer.id < after)
    if q:
        holders = sa.select(CustomerIdentity.customer_id).where(
            CustomerIdentity.value.in_(_identity_forms(q))
        )
        query = query.where(
            sa.or_(
                Customer.public_id == q.strip(),
                Customer.id.in_(holders),
                contains(Customer.name, q),
            )
        )
    customers = list(await uow.session.scalars(query))
    ids = [c.id for c in customers]
    identities: dict[int, list[IdentityOut]] = defaultdict(list)
    merged_from: dict[int | None, list[str]] = defaultdict(list)
    if ids:
        for row in await uow.session.scalars(
            sa.select(CustomerIdentity)
            .where(CustomerIdentity.customer_id.in_(ids))
            .order_by(CustomerIdentity.id)
        ):
            identities[row.customer_id].append(IdentityOut.model_validate(row))
        for survivor, public_id in await uow.session.execute(
            sa.select(Customer.merged_into_id, Customer.public_id)
            .where(Customer.merged_into_id.in_(ids))
            .order_by(Customer.merged_at, Customer.id)
        ):
            merged_from[survivor].append(public_id)
    return [
        (
            c.id,
            CustomerOut(
                id=c.public_id,
                name=c.name,
                created_channel=c.created_channel,
                created_at=c.created_at,
                identities=identities[c.id],
                merged_from=merged_from[c.id],
            ),
        )
        for c in customers
    ]
