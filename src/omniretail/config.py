"""Settings from the environment (prefix ``OMNI_``)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNI_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./omniretail.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None
    log_level: str = "info"
    # Pool per process; hot SKUs want it small (see ANCHORS: the WAL flush under the row lock).
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Connections per process kept for one-statement hot reads (PostgreSQL; see scoped.py).
    db_hot_read_connections: int = Field(default=4, ge=1)
    # How long a request waits for a pooled connection before it is answered 503 database_busy.
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    # Whether `omni serve` delivers the outbox (in a worker process of its own on PostgreSQL,
    # in its API process on SQLite): false when a separate `omni worker` is used.
    run_dispatcher: bool = True
    dispatcher_poll_seconds: float = Field(default=0.5, gt=0)
    # Set by `omni serve` for its API processes: the socket of the worker it started, woken
    # after a commit that wrote events (worker_process.py).
    dispatcher_wake_socket: str = ""
    # After a commit wakes it, or a pass found less than a batch, the dispatcher waits this long
    # before its next pass, so that the commits of that moment go in one pass (see events.py).
    dispatcher_linger_seconds: float = Field(default=0.25, ge=0, le=5)
    # How often expired stock holds are released (worker, and the API's background loop).
    expiry_poll_seconds: float = Field(default=5.0, gt=0)
    max_body_bytes: int = 16 * 1024 * 1024
    # Wrong keys from one client address before it is answered 429 (per API process).
    auth_failure_limit: int = Field(default=30, ge=1)
    auth_failure_window_seconds: float = Field(default=60.0, gt=0)
    # Signs the sandbox payment provider's callbacks. There is no default: without one every
    # sandbox callback is refused (and `omni serve` warns), so no install trusts a known secret.
    sandbox_payment_secret: SecretStr | None = None
    # Bearer token for GET /metrics. Without one, /metrics answers loopback callers only.
    metrics_token: SecretStr | None = None

    def sandbox_secret(self) -> str | None:
        secret = self.sandbox_payment_secret
        return secret.get_secret_value() if secret is not None else None

    # When set (nats://host:4222), the outbox also relays every event to NATS JetStream.
    nats_url: str | None = None

    # Fernet keys (comma-separated, newest first) sealing channel connection credentials.
    connector_keys: str = ""
    # Outgoing webhooks: loopback receivers are refused unless this is on (tests, the demo);
    # a receiver has this long to answer a delivery.
    webhooks_allow_loopback: bool = False
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # The console's "send a test order" button on a platform shop (the demo, a trial): it
    # pushes a signed simulated order through the real inbound path. Off in production.
    console_simulator: bool = False
    # Fernet keys (comma-separated, newest first) sealing staff users' TOTP seeds.
    staff_keys: str = ""
    # WeChat Pay APIv3: enabled when the APIv3 key is set; certificates is a PEM file path.
    wechatpay_mchid: str = ""
    wechatpay_api_v3_key: str = ""
    wechatpay_platform_certs: str = ""
    # What signs our requests to WeChat Pay: the mini-program's appid, the merchant API
    # certificate's serial number and its private key (PEM; a secret). Needed with the key.
    wechatpay_appid: str = ""
    wechatpay_merchant_serial: str = ""
    wechatpay_merchant_private_key: SecretStr | None = None
    # Where WeChat Pay is called, and the public https URL of our notify endpoint that payments
    # and refunds name (…/v1/payments/wechat_pay/notify).
    wechatpay_base_url: str = "https://api.mch.weixin.qq.com"
    wechatpay_notify_url: str = ""
    # Alipay: enabled when the app id is set. Alipay's public key and the app's private key are
    # PEM or the bare base64 Alipay's console shows; the private key is a secret.
    alipay_app_id: str = ""
    alipay_public_key: str = ""
    alipay_merchant_private_key: SecretStr | None = None
    alipay_seller_id: str = ""
    # Alipay's gateway, and the public https URL of our notify endpoint (…/v1/payments/alipay/
    # notify) that payments name.
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_notify_url: str = ""
    # How long a payment gateway (WeChat Pay, Alipay) may take to answer one request.
    payment_gateway_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # NATS consumers' record of handled events (consumed_events) is kept this long: longer than
    # the stream keeps messages (relay.STREAM_MAX_AGE, 7 days), so a redelivery finds its row.
    consumed_events_retention_days: float = Field(default=14, gt=0)

    @property
    def consumed_events_retention(self) -> dt.timedelta:
        return dt.timedelta(days=self.consumed_events_retention_days)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    return url
