"""The FastAPI app: GraphQL at /graphql (GraphiQL in the browser), the explorer at /explore, /healthz,
one driver per app. Every script, style and font the pages use is served from api/static."""
from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from strawberry.fastapi import GraphQLRouter

from api.auth import LOOPBACK_HOSTS, Role, TokenAuth
from api.graphql_schema import Context, schema
from api.ingest_http import UPLOAD_TIMEOUT_S, IngestJobs, ingest_router, upload_body_limit
from api.transport import BodyLimit, RequestTimeout
from graph.config import Settings
from graph.store import connect_async
from ingest.software_table import SoftwareTableError, current_table
from queries.catalog import GraphReader
from queries.policy import PolicyError, current_policy

MAX_BODY_BYTES = 64 * 1024
STATIC = Path(__file__).parent / "static"
# The pages load nothing from elsewhere; the browser enforces it too.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
               "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")


class LocalGraphiQL(GraphQLRouter):
    """GraphiQL from the vendored bundle (api/static/vendor), so it works with no Internet access."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse((STATIC / "graphiql.html").read_text(), headers={"Content-Security-Policy": PAGE_POLICY})


def wants_ide(request: Request) -> bool:
    """The GraphiQL page itself (a browser's GET without a query): HTML only, nothing runs."""
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "query" not in request.query_params and (
        "text/html" in accept or "*/*" in accept)


def create_app(settings: Settings, auth: TokenAuth, graphiql: bool = True) -> FastAPI:
    """The API over one database; the driver lives as long as the app. A malformed ITAM policy or
    software table stops it here, naming the file and line."""
    try:
        current_policy()
        current_table()
    except (PolicyError, SoftwareTableError) as exc:
        raise SystemExit(f"refusing to start: {exc}") from None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        driver = connect_async(settings)
        app.state.reader = GraphReader.from_settings(driver, settings)
        app.state.ingest = IngestJobs(settings)         # POST /ingest/{source} runs (api/ingest_http.py)
        # What the process holds once started (modules, the schema, caches) is frozen out of the garbage
        # collector: a full collection walked all of it in the middle of a request, which was the
        # reach query's p99 (docs/PERFORMANCE.md: 93.9 ms before, 35.5 ms after, at 100k hosts).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            app.state.ingest.close()
            await driver.close()

    app = FastAPI(title="itam-graph", lifespan=lifespan, docs_url=None, redoc_url=None)
    # Outermost last: the Host check, then the time limit, then the body cap (counted as it streams).
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, streamed={"/ingest/": upload_body_limit(settings)})
    app.add_middleware(RequestTimeout, seconds=settings.request_timeout_s, longer={"/ingest/": UPLOAD_TIMEOUT_S})
    if auth.allow_anonymous:
        # Anonymous readers are trusted for being on loopback. A web page can reach loopback too, by
        # DNS rebinding (attacker.example resolving to 127.0.0.1), but its requests then name its own host.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS, www_redirect=False)
    reader_role = auth.require(Role.READER)

    async def context_getter(request: Request) -> Context:
        # The GraphiQL page loads without a token (it asks for one); every query needs one.
        principal = None if wants_ide(request) else reader_role(request)
        return Context(request.app.state.reader.for_request(), principal)

    @app.get("/healthz")
    async def healthz(request: Request):
        reader: GraphReader = request.app.state.reader
        try:
            async with reader.driver.session(database=reader.database) as session:
                await (await session.run("RETURN 1")).consume()
        except Exception:  # noqa: BLE001 - the probe reports, it does not explain
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return {"status": "ok"}

    @app.get("/explore", include_in_schema=False)
    async def explore_page():
        # The page holds no data: it asks /graphql, with the tab's token, for everything it shows.
        return FileResponse(STATIC / "explore.html", headers={"Content-Security-Policy": PAGE_POLICY})

    app.include_router(ingest_router(settings, auth))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # GraphiQL is a local page with no data in it: it asks for a token like the explorer, and every query
    # (introspection too) needs one when tokens are configured.
    router = LocalGraphiQL(schema, context_getter=context_getter, graphql_ide="graphiql" if graphiql else None)
    app.include_router(router, prefix="/graphql")
    return app
