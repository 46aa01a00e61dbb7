"""The demo catalogue: a fashion range with sizes and colours, real-looking categories and
valid EAN-13 barcodes, created through the catalogue's own service. Deterministic."""

from __future__ import annotations

import random

from omniretail.catalog import service as catalog
from omniretail.catalog.domain import with_check_digit
from omniretail.catalog.schemas import ProductIn
from omniretail.db import Database
from omniretail.i18n import CHINESE

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

# The range in Chinese, for a zh-CN demo: titles and colours are what the merchant reads; the
# codes, SKUs (built from the English colour) and barcodes are the same in both languages.
CHINESE_TITLES = {
    "Linen wrap dress": "亚麻裹身连衣裙",
    "Silk slip dress": "真丝吊带裙",
    "Knit midi dress": "针织中长连衣裙",
    "Cotton tee": "纯棉T恤",
    "Ribbed tank": "罗纹背心",
    "Oversized shirt": "宽松衬衫",
    "Wool coat": "羊毛大衣",
    "Trench coat": "风衣",
    "Puffer jacket": "棉服",
    "Oxford shirt": "牛津纺衬衫",
    "Linen shirt": "亚麻衬衫",
    "Flannel shirt": "法兰绒衬衫",
    "Chino": "休闲长裤",
    "Slim jeans": "修身牛仔裤",
    "Cargo trousers": "工装裤",
    "Down jacket": "羽绒服",
    "Bomber jacket": "飞行员夹克",
    "Parka": "派克大衣",
    "Kids tee": "儿童T恤",
    "Kids hoodie": "儿童卫衣",
    "Canvas sneaker": "帆布鞋",
    "Runner": "跑步鞋",
    "Tote bag": "托特包",
    "Crossbody bag": "斜挎包",
}
CHINESE_COLOURS = {
    "black": "黑色",
    "white": "白色",
    "sand": "沙色",
    "navy": "藏青",
    "olive": "橄榄绿",
    "rose": "玫瑰粉",
    "grey": "灰色",
}


def demo_products(count: int = 300, seed: int = 21, *, locale: str = CHINESE) -> list[ProductIn]:
    """The demo range; titles and colours in ``locale`` (zh-CN or en), the same codes."""
    chinese = locale == CHINESE
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
                        "attributes": {
                            "size": size,
                            "colour": CHINESE_COLOURS[colour] if chinese else colour,
                        },
                        "price": max(price, 1900),
                    }
                )
        out.append(
            ProductIn.model_validate(
                {
                    "code": code,
                    "title": f"{title_in(rng.choice(titles), chinese)} {n + 1}",
                    "category": category,
                    "attributes": {"season": rng.choice(["SS26", "AW26"]), "brand": "Lumen"},
                    "variants": variants,
                }
            )
        )
    return out


def title_in(title: str, chinese: bool) -> str:
    return CHINESE_TITLES[title] if chinese else title


async def seed_catalog(
    db: Database, tenant_id: int, *, count: int = 300, locale: str = CHINESE
) -> int:
    """Create the range in batches of 50 products per transaction; returns the variants."""
    products = demo_products(count, locale=locale)
    for start in range(0, len(products), 50):
        async with db.uow(tenant_id) as uow:
            for product in products[start : start + 50]:
                await catalog.do_create_product(uow, data=product, actor="demo")
    return sum(len(p.variants) for p in products)
