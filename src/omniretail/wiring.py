"""Which context listens to which event: the one place cross-context reactions are wired."""

from __future__ import annotations

from omniretail.analytics import projection as analytics
from omniretail.connectors import handlers as connectors
from omniretail.connectors.platforms import builtin_platforms
from omniretail.customers import handlers as customers
from omniretail.engagement import handlers as engagement
from omniretail.engagement import pairings
from omniretail.events import HandlerRegistry
from omniretail.loyalty import handlers as loyalty
from omniretail.orders import handlers as orders
from omniretail.webhooks import handlers as webhooks


def build_registry(*, nats: bool = False, grouped: bool = True) -> HandlerRegistry:
    """The in-process dispatcher's handlers. With ``nats`` (``OMNI_NATS_URL`` set), those of
    :func:`nats_groups` are left out: NATS consumers run them, so no event is handled twice.
    Without ``grouped``, the projections take their events one by one (what they did before
    they took a group at once: ``bench_dispatch`` compares the two)."""
    registry = HandlerRegistry()
    # Profile (spend by channel, LTV) and points follow completed orders, returns and merges.
    # Checkout and returns also earn and reverse points in their own transaction; the loyalty
    # handlers are idempotent per order and return, so they only act for orders that came
    # from elsewhere (an imported marketplace order, say).
    registry.subscribe("order.completed", customers.on_order_completed)
    registry.subscribe("order.completed", loyalty.on_order_completed)
    registry.subscribe("order.cancelled", loyalty.on_order_cancelled)
    registry.subscribe("return.completed", customers.on_return_completed)
    registry.subscribe("return.completed", loyalty.on_return_completed)
    registry.subscribe("customer.merged", loyalty.on_customer_merged)
    registry.subscribe("customer.merged", orders.on_customer_merged)
    # The data hub's facts follow the same events (idempotent per order, return and
    # fulfilment), a dispatcher group's events at once.
    for event_type in analytics.PROJECTED:
        if grouped:
            registry.subscribe_group(event_type, analytics.project_group)
        else:
            registry.subscribe(event_type, analytics.HANDLERS[event_type])
    # Campaigns start their clocks on a try-on (idempotent per campaign, customer and SKU).
    registry.subscribe("customer.tried_on", engagement.on_tried_on)
    # Pairings grow from completed orders and what customers looked at (idempotent per
    # signal), a dispatcher group's events at once; an experience store's scan credits the
    # customer's next orders of the SKU (once per order, on placing, so the sales fact of its
    # completion carries the credit): scans are kept event by event, before a later
    # order.placed of the same group is credited.
    if grouped:
        registry.subscribe("customer.looked_at", engagement.on_scanned)
        for event_type in pairings.FED_BY:
            registry.subscribe_group(event_type, engagement.on_signals)
        registry.subscribe("customer.merged", engagement.on_customer_merged_scans)
    else:
        registry.subscribe("customer.looked_at", engagement.on_looked_at)
        registry.subscribe("order.completed", engagement.on_order_completed)
        registry.subscribe("customer.merged", engagement.on_customer_merged)
    registry.subscribe("order.placed", engagement.on_order_placed)
    # Channel connectors apply platform messages (in order per platform order: in-process).
    connectors.subscribe_messages(registry)
    if not nats:
        for group in nats_groups().values():
            group.copy_into(registry)
    return registry


def nats_groups() -> dict[str, HandlerRegistry]:
    """Handlers that NATS JetStream consumers own when ``OMNI_NATS_URL`` is set, by consumer
    group: each group acknowledges its messages on its own (``omniretail.consumers``)."""
    stock, hooks = HandlerRegistry(), HandlerRegistry()
    # Channel connectors push stock figures out to the platforms.
    connectors.subscribe_stock(stock, builtin_platforms())
    # Merchants' webhook subscriptions get order, fulfilment, stock and return events.
    webhooks.subscribe(hooks)
    return {"connectors-stock": stock, "webhooks": hooks}
