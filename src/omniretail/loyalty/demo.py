"""Demo customers who use several channels, with their behaviour, orders, points and plans.

Seeded through the same services the API and the event handlers use. Deterministic.
"""

from __future__ import annotations

import datetime as dt
import random

from omniretail.customers import behaviour
from omniretail.customers import service as customers
from omniretail.customers.domain import IdentityType
from omniretail.customers.schemas import BehaviourIn, IdentityIn
from omniretail.db import Database, utcnow
from omniretail.loyalty import programme
from omniretail.loyalty import service as loyalty
from omniretail.loyalty.schemas import PlanIn, RulesIn

NAMES = ["Li Wei", "Wang Fang", "Zhang Min", "Liu Yang", "Chen Jing", "Yang Lei", "Zhao Li",
         "Huang Yan", "Zhou Jie", "Wu Xia", "Xu Tao", "Sun Hui"]  # fmt: skip
JOURNEYS = [
    ("miniprogram", "pos"),
    ("douyin", "miniprogram", "pos"),
    ("app", "pos"),
    ("xiaohongshu", "app"),
    ("web", "pos", "app"),
    ("pos",),
]
SKUS = ["DRESS-1-S", "DRESS-1-M", "COAT-2-M", "SHOE-3-38", "BAG-4", "SCARF-5"]
MESSAGING = ["sms", "wechat", "email"]


def _identities(i: int, channels: tuple[str, ...]) -> list[IdentityIn]:
    out = [IdentityIn(type=IdentityType.PHONE, value=f"139{i:08d}")]
    if "miniprogram" in channels:
        out.append(IdentityIn(type=IdentityType.WECHAT_UNIONID, value=f"demo-union-{i}"))
    if "douyin" in channels:
        out.append(IdentityIn(type=IdentityType.DOUYIN_OPENID, value=f"demo-dy-{i}"))
    if "xiaohongshu" in channels:
        out.append(IdentityIn(type=IdentityType.XHS_USER_ID, value=f"demo-xhs-{i}"))
    if "pos" in channels:
        out.append(IdentityIn(type=IdentityType.MEMBER_CARD, value=f"LUMEN-{i:06d}"))
    return out


async def seed_customers(db: Database, tenant_id: int, *, count: int = 24, seed: int = 11) -> None:
    """Customers who find Lumen on one channel and come back on others."""
    rng = random.Random(seed)
    now = utcnow()
    async with db.uow(tenant_id) as uow:
        # Points wait out a 7-day after-sales window, as in CRMEB and Youzan.
        await programme.do_set_rules(uow, rules=RulesIn(pending_days=7), actor="demo")
        await programme.do_create_plan(
            uow,
            data=PlanIn(code="lumen-plus", name="Lumen+", fee=19_800, term_days=365,
                        points_multiplier_pct=150, free_delivery=True, free_pickup=True),
        )  # fmt: skip
    for i in range(count):
        journey = JOURNEYS[i % len(JOURNEYS)]
        first_seen = now - dt.timedelta(days=rng.randint(30, 500))
        async with db.uow(tenant_id) as uow:
            # Each channel resolves the same person by what it knows of them.
            cid = ""
            everything = _identities(i, journey)
            for step, channel in enumerate(journey):
                last = step == len(journey) - 1
                known = everything if last else everything[: step + 1]
                out, _ = await customers.do_resolve_customer(
                    uow, identities=known, create_if_missing=True, channel=channel
                )
                cid = out.id
            lines = [
                BehaviourIn(
                    type=rng.choice(["view", "try_on", "add_to_cart", "store_visit"]),
                    customer_id=cid,
                    sku=rng.choice(SKUS),
                    channel=rng.choice(journey),
                    location=f"ST-{rng.randint(1, 30):03d}",
                    at=first_seen + dt.timedelta(days=rng.randint(0, 29), hours=rng.randint(0, 23)),
                )
                for _ in range(rng.randint(2, 8))
            ]
            await behaviour.do_record_behaviour(uow, lines=lines, actor="demo")
            for n in range(rng.randint(1, 6)):
                at = first_seen + dt.timedelta(days=5 + n * rng.randint(7, 40))
                if at > now:
                    break
                channel = rng.choice(journey)
                paid = rng.choice([19_900, 39_900, 59_900, 129_900])
                order_ref = f"DEMO-{i:03d}-{n}"
                store = f"ST-{rng.randint(1, 30):03d}" if channel == "pos" else None
                await customers.do_record_order(
                    uow, customer_id=cid, order_ref=order_ref, channel=channel,
                    location=store, amount=paid, at=at,
                )  # fmt: skip
                await loyalty.do_earn_for_order(
                    uow, customer_id=cid, order_ref=order_ref, channel=channel,
                    paid_amount=paid, at=at,
                )  # fmt: skip
            for messaging in rng.sample(MESSAGING, rng.randint(0, 2)):
                await customers.do_set_consent(
                    uow, customer_id=cid, channel=messaging, granted=True,
                    source=f"{journey[0]} sign-up", at=first_seen,
                )  # fmt: skip
            if i % 5 == 0:
                await programme.do_start_membership(
                    uow, customer_id=cid, plan="lumen-plus", starts_at=now - dt.timedelta(days=10)
                )
