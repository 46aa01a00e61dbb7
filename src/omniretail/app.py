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
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.responses import JSONResponse
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

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
from omniretail.dispatch import Dispatch
from omniretail.engagement import api as engagement_api
from omniretail.engagement import groupbuy_api
from omniretail.events import Dispatcher, freeze_start_up_heap
from omniretail.imports import api as imports_api
from omniretail.inventory import api as inventory_api
from omniretail.jobs import build_jobs, run_jobs_forever
from omniretail.loyalty import api as loyalty_api
from omniretail.migrate import database_revisions, script_heads
from omniretail.network import api as network_api
from omniretail.observability import Front, install_telemetry
from omniretail.openapi import install_openapi
from omniretail.orders import api as orders_api
from omniretail.orders import notify_api as payment_notify_api
from omniretail.orders import pay_api
from omniretail.payments.alipay import AlipayProvider
from omniretail.payments.providers import PaymentProvider, builtin_providers
from omniretail.payments.wechatpay import Merchant, WeChatPayProvider
from omniretail.pricing import api as pricing_api
from omniretail.problems import install_error_handlers, problem
from omniretail.relay import NatsRelay
from omniretail.returns import api as returns_api
from omniretail.webhooks import api as webhooks_api
from omniretail.webhooks.delivery import WebhookSender
from omniretail.wiring import build_registry, nats_groups
from omniretail.worker_process import Waker

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


class OmniApp(FastAPI):
    """FastAPI with a shorter middleware stack (issue 11): every request used to pass through
    eight ASGI layers before routing, each a Python frame per message. Here it is Starlette's
    ServerErrorMiddleware (the 500 problem handler), :class:`observability.Front` (liveness,
    request id, telemetry, body limit, in one layer), Starlette's ExceptionMiddleware (the
    problem+json handlers), FastAPI's AsyncExitStackMiddleware (closes uploaded files) and
    :class:`dispatch.Dispatch` (the router, reached through an index of the routes).
    FastAPI's own ExceptionTelemetryMiddleware and AppBodyLimitMiddleware are left out: the
    first reports exceptions to OpenTelemetry, which this service does not use (its metrics and
    access log are ``Front``'s; FastAPI's native telemetry is switched off below), the second
    does nothing without FastAPI's ``max_body_size`` (``Front`` enforces
    ``OMNI_MAX_BODY_BYTES``). Middleware added with ``add_middleware`` still goes inside
    ``Front``."""

    max_body_bytes: int = 0

    def build_middleware_stack(self) -> ASGIApp:
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        app: ASGIApp = AsyncExitStackMiddleware(Dispatch(self.router))
        app = ExceptionMiddleware(app, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        app = Front(app, max_bytes=self.max_body_bytes)
        return ServerErrorMiddleware(app, handler=error_handler, debug=self.debug)


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
    if settings.dispatcher_wake_socket:  # the worker `omni serve` started beside this process
        database.on_outbox_commit(Waker(settings.dispatcher_wake_socket))
    heads = script_heads()
    providers = payment_providers(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.sandbox_secret() is None:
            log.warning(
                "OMNI_SANDBOX_PAYMENT_SECRET is not set: sandbox payment callbacks are refused"
            )
        # An API process without the dispatcher (the outbox delivered by `omni worker`) too.
        freeze_start_up_heap()
        stop = asyncio.Event()
        tasks = []
        if settings.run_dispatcher:
            tasks = [
                asyncio.create_task(
                    dispatcher.run_forever(
                        stop,
                        settings.dispatcher_poll_seconds,
                        settings.dispatcher_linger_seconds,
                    )
                ),
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

    app = OmniApp(
        title="Omniretail",
        version=__version__,
        summary="One customer, one stock, one price on every channel.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.max_body_bytes = settings.max_body_bytes
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
    return app
