"""The FastAPI app: GraphQL at /graphql (GraphiQL in the browser), /healthz, one driver per app."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from strawberry.fastapi import GraphQLRouter

from api.auth import Role, TokenAuth
from api.graphql_schema import Context, schema
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
        app.state.reader = GraphReader(driver, settings.neo4j_database)
        try:
            yield
        finally:
            await driver.close()

    app = FastAPI(title="itam-graph", lifespan=lifespan, docs_url=None, redoc_url=None)
    reader_role = auth.require(Role.READER)

    async def context_getter(request: Request, principal=Depends(reader_role)) -> Context:
        return Context(request.app.state.reader, principal)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)

    @app.get("/healthz")
    async def healthz(request: Request):
        reader: GraphReader = request.app.state.reader
        try:
            async with reader.driver.session(database=reader.database) as session:
                await (await session.run("RETURN 1")).consume()
        except Exception:  # noqa: BLE001 - the probe reports, it does not explain
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return {"status": "ok"}

    router = GraphQLRouter(schema, context_getter=context_getter, graphql_ide="graphiql" if graphiql else None)
    app.include_router(router, prefix="/graphql")
    return app
