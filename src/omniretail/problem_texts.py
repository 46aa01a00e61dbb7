# ruff: noqa: RUF001  (Chinese text uses full-width punctuation, on purpose)
"""The titles and details of problem+json answers in English and Simplified Chinese.

The machine-readable ``code`` (and the ``type`` URI built from it) never changes with the
language; only ``title`` and ``detail`` do. Every error code the API can answer with has an
entry here in both languages (a test walks every :class:`~omniretail.errors.DomainError`).

A Chinese detail is the code's sentence followed by the English particulars in brackets: those
name the records and numbers involved (SKUs, quantities, ids) that a merchant passes on to
support or an integrator searches for.
"""

from __future__ import annotations

from omniretail.i18n import CHINESE, ENGLISH

# code: (English title, Chinese title, Chinese detail)
PROBLEM_TEXTS: dict[str, tuple[str, str, str]] = {
    # The categories (omniretail.errors)
    "domain_error": ("Request cannot be served", "无法处理该请求", "请求无法处理"),
    "unauthenticated": ("Authentication required", "需要身份验证", "请提供有效的 API 密钥"),
    "forbidden": ("Not allowed", "无权操作", "当前密钥无权执行此操作"),
    "not_found": ("Not found", "未找到", "所请求的记录不存在"),
    "conflict": ("Conflict with the current state", "与当前状态冲突", "该操作与记录的当前状态冲突"),
    "already_exists": ("Already exists", "已存在", "同一编码的记录已存在"),
    "validation_error": ("Invalid request", "请求无效", "请求内容不符合要求"),
    "idempotency_key_reused": (
        "Idempotency-Key reused with another request",
        "幂等键已用于另一个请求",
        "同一个 Idempotency-Key 不能用于内容不同的请求",
    ),
    "too_large": ("Too large", "内容过大", "请求内容超过上限"),
    "rate_limited": ("Too many attempts", "尝试次数过多", "请稍后再试"),
    "unavailable": ("Temporarily unavailable", "暂时不可用", "依赖的服务暂时不可用，请稍后再试"),
    # The contexts' errors
    "sign_in_refused": ("Wrong sign-in", "登录失败", "账号或密码错误"),
    "account_locked": ("Account locked", "账号已锁定", "失败次数过多，账号已暂时锁定"),
    "staff_keys_missing": (
        "No key is configured for TOTP seeds",
        "未配置动态码密钥",
        "请先设置 OMNI_STAFF_KEYS，才能开启或校验动态码",
    ),
    "group_buy_full": ("The group is full", "该团已满", "该团已没有空位，请开新团或加入其他团"),
    "group_buy_closed": (
        "The group or campaign is closed",
        "拼团已结束",
        "该团或拼团活动已不在有效期内",
    ),
    "group_buy_limit_reached": (
        "The customer holds as many seats as the campaign allows",
        "已达参团上限",
        "该顾客在此活动中的参团次数已达上限",
    ),
    "group_buy_already_joined": (
        "The customer is already in this group",
        "已在团中",
        "该顾客已参加这个团",
    ),
    "group_buy_not_complete": (
        "The group is not complete yet",
        "尚未成团",
        "拼团未成功前，提货码不能核销",
    ),
    "group_buy_already_filled": (
        "The group has already filled",
        "已成团",
        "拼团已成功，不能再退团；请取消或退货该订单",
    ),
    "group_buy_refund_refused": (
        "The payment provider refused the refund",
        "退款被拒绝",
        "支付渠道拒绝了退款，系统将稍后重试",
    ),
    "no_consent": (
        "The customer has not agreed to offers on this channel",
        "顾客未同意通过该渠道接收优惠",
        "该顾客未授权在此渠道接收营销信息",
    ),
    "payment_declined": ("Payment declined", "支付被拒绝", "支付渠道拒绝了这笔付款"),
    "payment_mismatch": (
        "Payments do not add up to the total",
        "支付金额与订单总额不符",
        "各笔支付之和必须等于订单总额",
    ),
    "out_of_delivery_area": (
        "No location delivers to this address",
        "该地址不在配送范围内",
        "没有门店或仓库可以配送到该地址",
    ),
    "order_number_unavailable": (
        "No free order number was found",
        "未能分配订单号",
        "订单号多次重复，订单未创建，请重试",
    ),
    "pickup_unavailable": (
        "This store cannot serve the order",
        "该门店无法提供自提",
        "所选门店无法完成该订单的自提",
    ),
    "invalid_pickup_code": ("Invalid pickup code", "提货码无效", "提货码不正确"),
    "pickup_code_used": ("This pickup code was already used", "提货码已使用", "该提货码已核销"),
    "pickup_not_ready": (
        "The order is not ready for pickup yet",
        "订单尚未备好",
        "订单尚未备货完成，暂不能提货",
    ),
    "pickup_rate_limited": (
        "Too many wrong pickup codes at this store",
        "本店提货码错误次数过多",
        "错误的提货码输入过多，请稍后再试",
    ),
    "invalid_transition": (
        "Not allowed in the fulfilment's current state",
        "履约单当前状态不允许此操作",
        "履约单的当前状态不允许此操作",
    ),
    "order_not_paid": ("The order is waiting for payment", "订单待付款", "订单尚未付款，不能处理"),
    "payment_gateway_unavailable": (
        "The payment gateway did not answer",
        "支付网关无应答",
        "支付网关暂时没有可信的应答，请稍后再试",
    ),
    "payment_gateway_refused": (
        "The payment gateway refused the payment",
        "支付网关拒绝了该支付",
        "支付网关拒绝下单",
    ),
    "nothing_to_pay": (
        "Nothing to pay with this method",
        "无待支付款项",
        "该订单没有此支付方式的待付款项",
    ),
    "notification_invalid": (
        "The payment notification is not verifiable",
        "支付通知无法验证",
        "支付通知的签名或内容无法验证",
    ),
    "identity_taken": (
        "Already exists",
        "身份已被占用",
        "该手机号或邮箱已属于另一位顾客",
    ),
    "insufficient_points": ("Not enough points", "积分不足", "可用积分不足"),
    "batch_id_reused": (
        "batch_id reused with other lines",
        "batch_id 已用于其他明细",
        "同一个 batch_id 不能用于内容不同的明细",
    ),
    "insufficient_stock": ("Insufficient stock", "库存不足", "可用库存不足"),
    "reservation_expired": ("Reservation expired", "预留已过期", "库存预留已过期"),
    "reservation_closed": (
        "Reservation already consumed or released",
        "预留已使用或已释放",
        "该库存预留已被使用或释放",
    ),
    "return_window_closed": (
        "The return window has closed",
        "已超过退货期限",
        "已超过可退货的期限",
    ),
    "return_exceeds_order": (
        "More is returned than was bought and delivered",
        "退货数量超过已购数量",
        "退货数量超过已购买并交付的数量",
    ),
    "not_returnable": ("These items cannot be returned", "商品不可退货", "这些商品不可退货"),
    "order_not_returnable": (
        "Nothing of this order has been handed over yet",
        "订单尚未交付",
        "订单中还没有已交付的商品，不能退货",
    ),
    "return_not_awaiting_receipt": (
        "This return was already received",
        "退货已收货",
        "该退货单已经收货",
    ),
    "case_closed": ("The case is closed", "工单已关闭", "该工单已关闭"),
    "import_too_large": ("Too many rows in one file", "文件行数过多", "单个文件的行数超过上限"),
    "import_rejected": (
        "The file has bad rows; nothing was imported",
        "文件中有错误行，未导入任何数据",
        "请修正错误报告中列出的行后重新导入",
    ),
    "undecodable_file": (
        "Unknown file encoding",
        "无法识别文件编码",
        "文件编码无法识别（支持 UTF-8、UTF-16、GBK、GB18030）",
    ),
    "signature_invalid": (
        "The message signature does not match",
        "消息签名不匹配",
        "消息签名校验失败",
    ),
    "message_not_parked": (
        "Only a parked message can be retried",
        "只能重试已暂停的消息",
        "只有已暂停的消息才能重试",
    ),
    "webhook_url_refused": (
        "We do not send webhooks to this URL",
        "不能向该地址发送 Webhook",
        "Webhook 地址须为 http(s)，且只能解析到公网地址",
    ),
    "webhook_delivery_not_dead": (
        "Only a dead delivery can be sent again",
        "只能重发已放弃的投递",
        "该 Webhook 投递未处于已放弃状态，不能重发",
    ),
    "connector_keys_missing": (
        "No connector key is configured",
        "未配置连接器密钥",
        "服务器未配置连接器加密密钥",
    ),
    "coupon_not_found": ("No such coupon", "优惠券不存在", "找不到该优惠券"),
    "coupon_expired": ("The coupon has expired", "优惠券已过期", "该优惠券已过期"),
    "coupon_not_applicable": (
        "The coupon does not apply here",
        "优惠券不适用",
        "该优惠券不适用于本订单",
    ),
    "coupon_used_up": ("The coupon has been used up", "优惠券已用完", "该优惠券已被领用完"),
    "coupon_limit_reached": (
        "This customer has used the coupon as often as allowed",
        "已达到使用次数上限",
        "该顾客使用此优惠券的次数已达上限",
    ),
    # Answered by the HTTP layer itself (omniretail.problems, omniretail.app)
    "malformed_json": ("Invalid request", "请求无效", "请求体不是有效的 JSON"),
    "method_not_allowed": ("Method Not Allowed", "不支持该方法", "该地址不支持此 HTTP 方法"),
    "payload_too_large": ("Payload too large", "请求体过大", "请求体超过大小上限"),
    "http_error": ("HTTP error", "HTTP 错误", "请求无法处理"),
    "database_busy": ("Database busy", "数据库繁忙", "数据库正忙于其他写入，请稍后重试"),
    "database_conflict": (
        "Database conflict",
        "数据库写入冲突",
        "此次写入与另一并发写入冲突，已被撤销，请稍后重试",
    ),
    "internal_error": ("Internal error", "内部错误", "发生了意外错误"),
    "invalid_url": ("Invalid URL", "网址无效", "网址中不能包含 NUL 字符"),
}


def problem_title(code: str, locale: str, english: str) -> str:
    """The title in ``locale``; ``english`` (the error's own) when English or unknown."""
    texts = PROBLEM_TEXTS.get(code)
    if locale != CHINESE or texts is None:
        return english
    return texts[1]


def problem_detail(code: str, locale: str, english: str) -> str:
    """The detail in ``locale``: in Chinese, the code's sentence with the English particulars
    kept in brackets (they name the records involved)."""
    texts = PROBLEM_TEXTS.get(code)
    if locale != CHINESE or texts is None:
        return english
    return f"{texts[2]}（{english}）" if english else texts[2]


def has_texts(code: str) -> dict[str, bool]:
    """Which languages have a title and detail for ``code`` (for the completeness test)."""
    texts = PROBLEM_TEXTS.get(code)
    return {
        ENGLISH: bool(texts and texts[0]),
        CHINESE: bool(texts and texts[1] and texts[2]),
    }
