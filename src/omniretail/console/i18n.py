"""Labels of the console in Simplified Chinese and English, chosen per staff user."""
# ruff: noqa: RUF001  (Chinese labels use full-width punctuation on purpose)

from __future__ import annotations

from collections.abc import Callable

LABELS: dict[str, tuple[str, str]] = {
    # key: (zh-CN, en)
    "console": ("Omniretail 控制台", "Omniretail console"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "organisation": ("商户", "Organisation"),
    "login": ("邮箱或手机", "E-mail or phone"),
    "password": ("密码", "Password"),
    "totp": ("动态码（如已开启）", "Authenticator code (if enabled)"),
    "queue": ("今日任务", "Today's queue"),
    "handover": ("核销提货", "Pickup handover"),
    "stock": ("库存查询", "Stock lookup"),
    "dashboard": ("经营看板", "Dashboard"),
    "imports": ("导入", "Import"),
    "order": ("订单", "Order"),
    "mode": ("方式", "Mode"),
    "status": ("状态", "Status"),
    "promised": ("承诺时间", "Promised"),
    "lines": ("商品", "Items"),
    "actions": ("操作", "Actions"),
    "accept": ("接单", "Accept"),
    "pick": ("拣货", "Pick"),
    "ready": ("备货完成", "Ready"),
    "ship": ("发货", "Ship"),
    "reject": ("拒单", "Reject"),
    "reason": ("原因", "Reason"),
    "late": ("已超时", "Late"),
    "empty_queue": ("暂无待处理任务", "Nothing to do right now"),
    "pick_list": ("拣货单", "Pick list"),
    "code": ("提货码", "Pickup code"),
    "verify": ("核销并交付", "Verify and hand over"),
    "handed_over": ("已交付", "Handed over"),
    "customer": ("顾客", "Customer"),
    "phone": ("手机", "Phone"),
    "sku_or_barcode": ("条码或 SKU", "Barcode or SKU"),
    "search": ("查询", "Search"),
    "here": ("本店", "Here"),
    "nearby": ("附近门店", "Nearby"),
    "distance": ("距离", "Distance"),
    "available": ("可售", "Available"),
    "on_hand": ("在库", "On hand"),
    "today": ("今日", "Today"),
    "last_7_days": ("前 7 日", "Last 7 days"),
    "gmv": ("成交额", "GMV"),
    "orders": ("订单数", "Orders"),
    "gmv_by_channel": ("各渠道成交额（今日）", "GMV by channel (today)"),
    "gmv_by_store": ("各门店成交额（今日）", "GMV by store (today)"),
    "orders_by_mode": ("各履约方式订单（今日）", "Orders by mode (today)"),
    "open_fulfilments": ("未完成履约", "Open fulfilments"),
    "late_fulfilments": ("超时履约", "Late fulfilments"),
    "channel": ("渠道", "Channel"),
    "store": ("门店", "Store"),
    "kind": ("类型", "Kind"),
    "csv_file": ("CSV 文件", "CSV file"),
    "dry_run": ("预检（不写入）", "Check (writes nothing)"),
    "apply": ("导入", "Import"),
    "rows": ("行数", "Rows"),
    "created": ("新建", "Created"),
    "updated": ("更新", "Updated"),
    "bad_rows": ("有问题的行（未写入任何数据）", "Bad rows (nothing was written)"),
    "line": ("行号", "Line"),
    "field": ("字段", "Field"),
    "message": ("说明", "Message"),
    "checked_ok": ("预检通过，可以导入", "Checked: the file can be imported"),
    "imported": ("已导入", "Imported"),
    "error": ("出错了", "Something is wrong"),
    "language": ("English", "中文"),
    "stores": ("我的门店", "My stores"),
    "orders_list": ("订单", "Orders"),
    "staff": ("员工账号", "Staff"),
    "aisle_order": ("云货架下单", "Endless-aisle order"),
    "order_pickup_there": ("下单到店自提", "Order for pickup there"),
    "pickup_at": ("自提门店", "Pickup at"),
    "code_once": ("仅显示一次，请交给顾客", "shown once: give it to the customer"),
    "new_staff": ("新建员工", "New staff user"),
    "name": ("姓名", "Name"),
    "role": ("角色", "Role"),
    "locked": ("已锁定", "Locked"),
    "language_label": ("语言", "Language"),
    "create": ("创建", "Create"),
    "placed": ("下单时间", "Placed"),
    "next_page": ("下一页", "Next page"),
    "sourcing": ("寻源说明", "Sourcing"),
    "method": ("方法", "Method"),
    "chosen": ("选中", "Chosen"),
    "fulfilments": ("履约", "Fulfilments"),
    "network": ("网点", "Network"),
    "capabilities": ("能力", "Capabilities"),
    "capacity": ("日产能", "Daily capacity"),
    "hours": ("营业时间（周一）", "Hours (Mon)"),
}

_INDEX = {"zh-CN": 0, "en": 1}


def translator(language: str) -> Callable[[str], str]:
    index = _INDEX.get(language, 0)

    def t(key: str) -> str:
        pair = LABELS.get(key)
        return pair[index] if pair else key

    return t
