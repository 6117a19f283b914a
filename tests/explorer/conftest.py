"""The explorer's tests share one demo organisation (loaded once for this folder through the real
connectors), the app served by uvicorn on a free loopback port, and Debian's Chromium."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from api.app import create_app
from api.auth import Role, TokenAuth
from graph.local import free_port
from graph.store import Store
from demo import generate_org
from ingest.pipeline import ingest_files

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TOKEN = "explorer-test-token-0123456789"


@pytest.fixture(scope="package")
def demo(settings, _schema, tmp_path_factory):
    """The demo company (60 hosts and the cloud estate), ingested source by source."""
    store = Store.from_settings(settings)
    store.wipe()
    manifest = generate_org(tmp_path_factory.mktemp("demo"), hosts=60, seed=3)
    for source, files in manifest.files_by_source.items():
        assert ingest_files(store, source, files, settings).status == "succeeded", source
    yield manifest
    store.close()


@pytest.fixture(scope="package")
def gql(settings, demo):
    """GraphQL on the real app, anonymous on loopback; returns the whole JSON answer."""
    with TestClient(create_app(settings, TokenAuth({}, allow_anonymous=True)), base_url="http://127.0.0.1") as client:
        def ask(query: str, **variables):
            response = client.post("/graphql", json={"query": query, "variables": variables})
            assert response.status_code == 200, response.text
            return response.json()
        yield ask


class LiveServer:
    """The app under uvicorn in a thread; ready once /healthz answers."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                if not self.thread.is_alive():
                    break
        raise RuntimeError(f"the app did not answer on {self.url}/healthz")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="package")
def live(settings, demo):
    with LiveServer(create_app(settings, TokenAuth({}, allow_anonymous=True))) as server:
        yield server


@pytest.fixture(scope="package")
def live_with_tokens(settings, demo):
    with LiveServer(create_app(settings, TokenAuth({TOKEN: Role.READER}, allow_anonymous=False))) as server:
        yield server


@pytest.fixture(scope="package")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh tab (own sessionStorage) that records every request it makes and every script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 850}, accept_downloads=True)
    tab = context.new_page()
    tab.requests_seen = []
    tab.errors = []
    tab.on("request", lambda request: tab.requests_seen.append(request.url))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    context.close()
    assert not tab.errors, tab.errors


def docs_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "docs"
