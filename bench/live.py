"""What the load and concurrency benchmarks (and the short load test) share: a real `itam serve` process
(started on a free port against a given database, ready once /healthz answers, its memory read from /proc,
stopped with SIGTERM) and closed-loop clients that record every request."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import httpx

from graph.config import Settings
from graph.local import free_port

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def itam_command() -> str:
    """The `itam` console script of this interpreter's environment (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("itam")
    found = str(beside) if beside.exists() else shutil.which("itam")
    if not found:
        raise RuntimeError("no `itam` command found beside this Python or on PATH (pip install -e .)")
    return found


def child_pids(pid: int) -> list[int]:
    """The ids of the processes whose parent is pid."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue                        # gone meanwhile
            # field 4 is the parent pid; the command name (field 2) may hold spaces, so split after it
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn's supervisor and its workers), in MiB."""
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
        todo += child_pids(current)
    return total_kb / 1024


class ServedApi:
    """`itam serve --host 127.0.0.1 --port <free> --no-graphiql [extra...]` with NEO4J_URI and ITAM_HOME
    from `settings`; `env` adds to (or overrides) the environment. Output goes to `log`."""

    def __init__(self, settings: Settings, log: Path, extra: list[str] | None = None,
                 env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.argv = [itam_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-graphiql",
                     *(extra or [])]
        self.env = {**os.environ, "NEO4J_URI": settings.neo4j_uri, "ITAM_HOME": str(settings.home),
                    "NEO4J_DATABASE": settings.neo4j_database, **(env or {})}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "ServedApi":
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            try:                                       # between polls: wait on the process, so a crash ends the wait
                self.process.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
        self.__exit__()
        raise RuntimeError(f"`itam serve` did not answer on {self.url}/healthz within {READY_TIMEOUT_S:.0f} s; "
                           f"its output: {self.log}\n{self.log.read_text(errors='replace')[-2000:]}")

    def rss_mb(self) -> float:
        assert self.process is not None
        return tree_rss_mb(self.process.pid)

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)       # uvicorn's supervisor stops its workers
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)    # its own session: only what it started
            self.process.wait()


# --------------------------------------------------------------------------- closed-loop clients

@dataclass
class Sample:
    """One finished request: when it ended (seconds from the start), what it was, how long, its error."""

    at: float
    op: str
    ms: float
    error: str | None = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if s.error]

    @property
    def rate(self) -> float:
        """Requests finished per second of wall time."""
        return len(self.samples) / self.seconds

    def ms(self, op: str | None = None) -> list[float]:
        return [s.ms for s in self.samples if op is None or s.op == op]


# pick(client, n) -> the n-th request of that client: its name and the call that makes it (raises on failure)
Pick = Callable[[int, int], tuple[str, Callable[[], Awaitable[object]]]]


async def closed_loop(pick: Pick, clients: int, seconds: float) -> Run:
    """`clients` concurrent clients, each sending its next request as soon as its last one is answered,
    until `seconds` have passed (requests under way then are finished and counted)."""
    run = Run()
    started = time.perf_counter()
    stop = started + seconds

    async def client(index: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            op, call = pick(index, n)
            n += 1
            begun = time.perf_counter()
            error = None
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported, not raised
                error = f"{type(exc).__name__}: {exc}"[:300]
            done = time.perf_counter()
            run.samples.append(Sample(done - started, op, (done - begun) * 1000, error))

    await asyncio.gather(*(client(i) for i in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


class GraphQLFailed(RuntimeError):
    pass


class _Answer:
    """httptools callbacks for one HTTP/1.1 response: its body, and whether it is complete."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class LeanClient:
    """Keep-alive HTTP/1.1 connections (one per client) that POST JSON and read the answer with httptools'
    parser (uvicorn's own), for the concurrency benchmark: the clients share the machine's cores with the
    server, and httpx's own CPU per request was a large share of what the server spent answering it
    (docs/PERFORMANCE.md, "Concurrency"). Connections are opened as needed and reused."""

    def __init__(self, url: str):
        address = httpx.URL(url)
        self.host, self.port = address.host, address.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        writer.write(head + body)
        while not answer.complete:
            chunk = await reader.read(65536)
            if not chunk:
                writer.close()
                raise ConnectionError(f"the server closed the connection before answering {path}")
            parser.feed_data(chunk)
        if parser.should_keep_alive():
            self.idle.append((reader, writer))
        else:
            writer.close()
        return parser.get_status_code(), b"".join(answer.parts)

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def lean_graphql(client: LeanClient, query: str, variables: dict) -> dict:
    """POST one query through a LeanClient; its data, or GraphQLFailed naming the status and errors."""
    return graphql_data(*await client.post("/graphql", {"query": query, "variables": variables}))


def http_client(url: str, clients: int) -> httpx.AsyncClient:
    """One keep-alive connection per client."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0)


async def graphql(client: httpx.AsyncClient, query: str, variables: dict) -> dict:
    """POST one query; its data, or GraphQLFailed naming the status and errors."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    return graphql_data(response.status_code, response.content)


def graphql_data(status: int, raw: bytes) -> dict:
    """A GraphQL answer's data, or GraphQLFailed naming the status and errors."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"errors": [raw[:200].decode(errors="replace")]}
    if status != 200 or body.get("errors"):
        raise GraphQLFailed(f"HTTP {status} {body.get('errors')}")
    return body["data"]
