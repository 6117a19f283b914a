"""The FastAPI app: GraphQL at /graphql (GraphiQL in the browser), /healthz, one driver per app."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware
from strawberry.fastapi import GraphQLRouter

from api.auth import LOOPBACK_HOSTS, Role, TokenAuth
from api.graphql_schema import Context, schema
from api.transport import BodyLimit, RequestTimeout
from graph.config import Settings
from graph.store import connect_async
from ingest.software_table import SoftwareTableError, current_table
from queries.catalog import GraphReader
from queries.policy import PolicyError, current_policy

MAX_BODY_BYTES = 64 * 1024


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
        app.state.reader = GraphReader(driver, settings.neo4j_database, settings.read_timeout_s,
                                       settings.reads_per_request)
        try:
            yield
        finally:
            await driver.close()

    app = FastAPI(title="itam-graph", lifespan=lifespan, docs_url=None, redoc_url=None)
    # Outermost last: the Host check, then the time limit, then the body cap (counted as it streams).
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(RequestTimeout, seconds=settings.request_timeout_s)
    if auth.allow_anonymous:
        # Anonymous readers are trusted for being on loopback. A web page can reach loopback too, by
        # DNS rebinding (attacker.example resolving to 127.0.0.1), but its requests then name its own host.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS, www_redirect=False)
    reader_role = auth.require(Role.READER)

    async def context_getter(request: Request, principal=Depends(reader_role)) -> Context:
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

    # GraphiQL only for the anonymous loopback API: with tokens a browser page cannot send one anyway,
    # and the schema is published in api/schema.graphql (introspection needs a token like any request).
    ide = "graphiql" if graphiql and auth.allow_anonymous else None
    router = GraphQLRouter(schema, context_getter=context_getter, graphql_ide=ide)
    app.include_router(router, prefix="/graphql")
    return app
