"""The demo catalogue: a fashion range with sizes and colours, real-looking categories and
valid EAN-13 barcodes, created through the catalogue's own service. Deterministic."""

from __future__ import annotations

import random

from omniretail.catalog import service as catalog
from omniretail.catalog.domain import with_check_digit
from omniretail.catalog.schemas import ProductIn
from omniretail.db import Database

RANGE = [
    # category, title words, sizes, price range in yuan
    ("women/dresses", ["Linen wrap dress", "Silk slip dress", "Knit midi dress"],
     ["XS", "S", "M", "L"], (299, 899)),
    ("women/tops", ["Cotton tee", "Ribbed tank", "Oversized shirt"], ["XS", "S", "M", "L"],
     (79, 299)),
    ("women/outerwear", ["Wool coat", "Trench coat", "Puffer jacket"], ["S", "M", "L"],
     (699, 1999)),
    ("men/shirts", ["Oxford shirt", "Linen shirt", "Flannel shirt"], ["S", "M", "L", "XL"],
     (199, 499)),
    ("men/trousers", ["Chino", "Slim jeans", "Cargo trousers"], ["29", "30", "31", "32", "34"],
     (299, 699)),
    ("men/outerwear", ["Down jacket", "Bomber jacket", "Parka"], ["M", "L", "XL"], (799, 2499)),
    ("kids/tops", ["Kids tee", "Kids hoodie"], ["100", "110", "120", "130"], (59, 199)),
    ("shoes/sneakers", ["Canvas sneaker", "Runner"], ["36", "37", "38", "39", "40", "41", "42"],
     (299, 899)),
    ("accessories/bags", ["Tote bag", "Crossbody bag"], ["ONE"], (199, 1299)),
]  # fmt: skip
COLOURS = ["black", "white", "sand", "navy", "olive", "rose", "grey"]


def demo_products(count: int = 300, seed: int = 21) -> list[ProductIn]:
    rng = random.Random(seed)
    out = []
    barcode = 0
    for n in range(count):
        category, titles, sizes, (low, high) = RANGE[n % len(RANGE)]
        colours = rng.sample(COLOURS, rng.randint(1, 2))
        price = rng.randrange(low, high, 10) * 100 - 100  # 299.00, 399.00, ...
        code = f"LM{n + 1:04d}"
        variants = []
        for colour in colours:
            for size in sizes:
                barcode += 1
                variants.append(
                    {
                        "sku": f"{code}-{colour[:3].upper()}-{size}",
                        "barcode": with_check_digit(f"693{barcode:09d}"),
                        "attributes": {"size": size, "colour": colour},
                        "price": max(price, 1900),
                    }
                )
        out.append(
            ProductIn.model_validate(
                {
                    "code": code,
                    "title": f"{rng.choice(titles)} {n + 1}",
                    "category": category,
                    "attributes": {"season": rng.choice(["SS26", "AW26"]), "brand": "Lumen"},
                    "variants": variants,
                }
            )
        )
    return out


async def seed_catalog(db: Database, tenant_id: int, *, count: int = 300) -> int:
    """Create the range in batches of 50 products per transaction; returns the variants."""
    products = demo_products(count)
    for start in range(0, len(products), 50):
        async with db.uow(tenant_id) as uow:
            for product in products[start : start + 50]:
                await catalog.do_create_product(uow, data=product, actor="demo")
    return sum(len(p.variants) for p in products)
