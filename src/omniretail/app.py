"""create_app(): compose routers, middleware, error mapping and the outbox dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omniretail import __version__
from omniretail.analytics import api as analytics_api
from omniretail.auth import api as auth_api
from omniretail.auth.throttle import FailureThrottle
from omniretail.catalog import api as catalog_api
from omniretail.channels import api as channels_api
from omniretail.config import Settings
from omniretail.connectors import api as connectors_api
from omniretail.connectors.platforms import builtin_platforms
from omniretail.connectors.vault import CredentialVault
from omniretail.console.mount import install_console
from omniretail.consumers import NatsConsumers
from omniretail.customers import api as customers_api
from omniretail.db import Database
from omniretail.engagement import api as engagement_api
from omniretail.engagement import groupbuy_api
from omniretail.events import Dispatcher
from omniretail.imports import api as imports_api
from omniretail.inventory import api as inventory_api
from omniretail.jobs import build_jobs, run_jobs_forever
from omniretail.loyalty import api as loyalty_api
from omniretail.migrate import database_revisions, script_heads
from omniretail.network import api as network_api
from omniretail.observability import Liveness, install_telemetry
from omniretail.openapi import install_openapi
from omniretail.orders import api as orders_api
from omniretail.orders import notify_api as payment_notify_api
from omniretail.orders import pay_api
from omniretail.payments.alipay import AlipayProvider
from omniretail.payments.providers import PaymentProvider, builtin_providers
from omniretail.payments.wechatpay import Merchant, WeChatPayProvider
from omniretail.pricing import api as pricing_api
from omniretail.problems import install_error_handlers, problem, scope_problem
from omniretail.relay import NatsRelay
from omniretail.returns import api as returns_api
from omniretail.webhooks import api as webhooks_api
from omniretail.webhooks.delivery import WebhookSender
from omniretail.wiring import build_registry, nats_groups

log = logging.getLogger("omniretail")

ROUTERS = [
    network_api.reads,  # the location GET, first: routes are tried in this order
    auth_api.router,
    channels_api.router,
    network_api.router,
    catalog_api.router,
    pricing_api.router,
    imports_api.router,
    orders_api.router,
    returns_api.router,
    connectors_api.router,
    connectors_api.hooks,
    payment_notify_api.router,
    pay_api.router,
    inventory_api.router,
    customers_api.router,
    loyalty_api.router,
    analytics_api.router,
    engagement_api.router,
    groupbuy_api.router,
    webhooks_api.router,
]


class BodyLimit:
    """Refuse bodies over the limit with 413 before they are buffered in full, and URLs with
    NUL characters with 400."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A NUL in the path or query reaches no handler: no database stores it as text.
        target = scope.get("path", "").encode() + b"?" + scope.get("query_string", b"")
        if b"\x00" in target or b"%00" in target.lower():
            response = scope_problem(
                scope, 400, "invalid_url", "Invalid URL", "the URL must not contain NUL characters"
            )
            await response(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        too_large = False
        started = False

        async def limited() -> Message:
            # A streamed (chunked) body has no Content-Length: count it as it comes. Past the
            # limit the app is told the client left, and whatever it answers is replaced by 413.
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = scope_problem(
            scope,
            413,
            "payload_too_large",
            "Payload too large",
            f"the body exceeds {self.max_bytes} bytes",
        )
        await response(scope, receive, send)


def alipay_provider(settings: Settings) -> AlipayProvider:
    private_key = settings.alipay_merchant_private_key
    if private_key is None or not settings.alipay_public_key:
        raise ValueError(
            "OMNI_ALIPAY_APP_ID needs OMNI_ALIPAY_PUBLIC_KEY and OMNI_ALIPAY_MERCHANT_PRIVATE_KEY"
        )
    return AlipayProvider.from_keys(
        app_id=settings.alipay_app_id,
        alipay_public_key=settings.alipay_public_key,
        merchant_private_key=private_key.get_secret_value(),
        seller_id=settings.alipay_seller_id,
        gateway_url=settings.alipay_gateway_url,
        notify_url=settings.alipay_notify_url,
        timeout_seconds=settings.payment_gateway_timeout_seconds,
    )


def wechatpay_provider(settings: Settings) -> WeChatPayProvider:
    private_key = settings.wechatpay_merchant_private_key
    if private_key is None or not settings.wechatpay_merchant_serial:
        raise ValueError(
            "OMNI_WECHATPAY_API_V3_KEY needs OMNI_WECHATPAY_MERCHANT_SERIAL and "
            "OMNI_WECHATPAY_MERCHANT_PRIVATE_KEY"
        )
    return WeChatPayProvider.from_pem(
        mchid=settings.wechatpay_mchid,
        api_v3_key=settings.wechatpay_api_v3_key,
        certificates_pem=Path(settings.wechatpay_platform_certs).read_bytes(),
        merchant=Merchant.from_pem(
            appid=settings.wechatpay_appid,
            serial_no=settings.wechatpay_merchant_serial,
            private_key_pem=private_key.get_secret_value(),
        ),
        base_url=settings.wechatpay_base_url,
        notify_url=settings.wechatpay_notify_url,
        timeout_seconds=settings.payment_gateway_timeout_seconds,
    )


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """The built-in tenders and the gateways the settings enable (the API and the worker
    share them: the worker's jobs refund through them too)."""
    providers = builtin_providers(settings.sandbox_secret())
    if settings.wechatpay_api_v3_key:
        providers["wechat_pay"] = wechatpay_provider(settings)
    if settings.alipay_app_id:
        providers["alipay"] = alipay_provider(settings)
    return providers


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    database = db or Database(settings)
    registry = build_registry(nats=bool(settings.nats_url))
    dispatcher = Dispatcher(
        database, registry, relay=NatsRelay(settings.nats_url) if settings.nats_url else None
    )
    database.on_outbox_commit(dispatcher.wake)
    heads = script_heads()
    providers = payment_providers(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.sandbox_secret() is None:
            log.warning(
                "OMNI_SANDBOX_PAYMENT_SECRET is not set: sandbox payment callbacks are refused"
            )
        stop = asyncio.Event()
        tasks = []
        if settings.run_dispatcher:
            tasks = [
                asyncio.create_task(dispatcher.run_forever(stop, settings.dispatcher_poll_seconds)),
                asyncio.create_task(
                    run_jobs_forever(
                        database,
                        build_jobs(
                            providers,
                            hold_expiry_seconds=settings.expiry_poll_seconds,
                            webhooks=WebhookSender.from_settings(settings),
                            consumed_events_retention=settings.consumed_events_retention,
                        ),
                        stop,
                    )
                ),
            ]
            if settings.nats_url:
                consumers = NatsConsumers(settings.nats_url, database, nats_groups())
                tasks.append(asyncio.create_task(consumers.run(stop)))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            if db is None:
                await database.dispose()

    app = FastAPI(
        title="Omniretail",
        version=__version__,
        summary="One customer, one stock, one price on every channel.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.db = database
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    app.state.payment_providers = providers
    app.state.auth_throttle = FailureThrottle(
        limit=settings.auth_failure_limit, window_seconds=settings.auth_failure_window_seconds
    )
    app.state.platforms = builtin_platforms()
    app.state.connector_vault = CredentialVault.from_setting(settings.connector_keys)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Any:
        try:
            async with database.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            current = await database_revisions(database)
        except Exception as exc:
            log.warning("readiness: database unreachable: %r", exc)
            return problem(503, "database_unreachable", "Not ready", "database unreachable")
        if current != heads:
            return problem(
                503,
                "schema_outdated",
                "Not ready",
                "run `omni migrate`",
                current=sorted(current),
                expected=sorted(heads),
            )
        return JSONResponse({"status": "ready", "schema": sorted(current)})

    install_openapi(app)
    token = settings.metrics_token
    install_telemetry(app, database, metrics_token=token.get_secret_value() if token else None)
    app.add_middleware(Liveness)  # outermost: /healthz before anything else
    return app
