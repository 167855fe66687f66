"""create_app(settings) -> Litestar: the one place that wires the application.

Read this file to see the app: its routers, middleware, guards, templates, exception handlers and
lifespan. Nothing else registers routes or middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from companion.accounts import routes as account_routes
from companion.accounts.passwords import configure_hashing
from companion.alerts import routes as alert_routes
from companion.checkins import routes as checkin_routes
from companion.clinic import routes as clinic_routes
from companion.clinic.audit_copy import AuditCopier
from companion.db import Database
from companion.home import routes as home_routes
from companion.journal import routes as journal_routes
from companion.notify import kick as _outbox_kick  # noqa: F401 - commits that queue messages wake the sender
from companion.notify import routes as notify_routes
from companion.pwa import routes as pwa_routes
from companion.questionnaires import routes as questionnaire_routes
from companion.risk import routes as safety_plan_routes
from companion.settings import Settings, ensure_secret_key
from companion.treatments import routes as treatment_routes
from companion.web import errors
from companion.web.guards import Access, access, access_guard
from companion.web.middleware import (
    AuthenticationMiddleware,
    FetchMetadataMiddleware,
    SecurityHeadersMiddleware,
    csrf_cookie_name,
)
from companion.web.templating import configure_templates

PACKAGE_DIR = Path(__file__).parent


def create_app(settings: Settings, *, database: Database | None = None, background: bool = False) -> Litestar:
    """``background``: run the scheduler and sender in this process (``companion serve``, embedded mode only)."""
    settings = ensure_secret_key(settings)
    configure_hashing(settings.web.login_concurrency)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.db = database or Database(settings.db)
        # Every process that writes audit rows copies them to the separate store after commit (LOG-03).
        copier = AuditCopier(app.state.db, settings.audit.copy_dir, settings.audit.copy_sweep_seconds)
        await copier.start()
        jobs = None
        if background:
            from companion.scheduler import Background

            jobs = Background(app.state.db, settings)
            await jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            await copier.stop()
            await app.state.db.dispose()

    return Litestar(
        route_handlers=[
            *home_routes.handlers,
            *account_routes.handlers,
            *checkin_routes.handlers,
            *journal_routes.handlers,
            *questionnaire_routes.handlers,
            *safety_plan_routes.handlers,
            *treatment_routes.handlers,
            *clinic_routes.handlers,
            *alert_routes.handlers,
            *pwa_routes.handlers,
            *notify_routes.handlers,
            _api_router(),
            create_static_files_router(
                path="/static",
                directories=[PACKAGE_DIR / "static"],
                opt=access(Access.PUBLIC),
                include_in_schema=False,
                send_as_attachment=False,
            ),
        ],
        guards=[access_guard],
        middleware=[
            SecurityHeadersMiddleware(settings),
            FetchMetadataMiddleware(settings),
            AuthenticationMiddleware(settings),
        ],
        csrf_config=CSRFConfig(
            secret=settings.web.secret_key,
            cookie_name=csrf_cookie_name(settings),
            cookie_secure=settings.web.secure_cookies,
            cookie_samesite="lax",
            header_name="x-csrftoken",
            exclude=["/static"],
        ),
        plugins=[HTMXPlugin()],
        template_config=TemplateConfig(instance=configure_templates(settings)),
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024, gzip_compress_level=6),
        openapi_config=_openapi_config(settings),
        exception_handlers=errors.handlers(),
        request_max_body_size=settings.web.max_body_bytes,
        state=State({"settings": settings}),
        lifespan=[lifespan],
        logging_config=None,  # companion.logs configures logging for the processes we start
        debug=False,
    )


def _api_router() -> Router:
    return Router(
        path="/api/v1",
        route_handlers=[
            *checkin_routes.api_handlers,
            *journal_routes.api_handlers,
            *questionnaire_routes.api_handlers,
            *alert_routes.api_handlers,
            *notify_routes.api_handlers,
        ],
        tags=["api"],
    )


def _openapi_config(settings: Settings) -> OpenAPIConfig | None:
    if not settings.web.schema_enabled:
        return None
    level = Access.ADMIN if settings.production else Access.PUBLIC
    return OpenAPIConfig(
        title="Companion",
        version="1",
        path="/schema",
        render_plugins=[JsonRenderPlugin()],
        openapi_router=Router(path="/schema", route_handlers=[], opt=access(level)),
        create_examples=False,
    )
