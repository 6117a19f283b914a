"""Configuration from the environment: the same code path for the local launcher and production."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

from graph.local_secrets import NEO4J_PASSWORD_FILE, read_secret


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from exc


def positive_int_env(name: str, default: int) -> int:
    """A whole number of at least 1 from the environment, or the default when unset."""
    value = _int_env(name, default)
    if value < 1:
        raise SystemExit(f"{name}={value} must be at least 1")
    return value


# URI schemes the driver takes as Bolt over TLS; the scheme is passed to it unchanged.
TLS_SCHEMES = ("bolt+s", "bolt+ssc", "neo4j+s", "neo4j+ssc")


@dataclass(frozen=True)
class Settings:
    """Where the graph lives and how the product talks to it.

    NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE pick the database; without
    NEO4J_USER the login is the local launcher's (user neo4j, the password it keeps in
    ITAM_HOME/neo4j-password). ITAM_HOME holds local state (Neo4j data, pid file, logs,
    secrets); ITAM_MAX_FILE_MB caps any file an ingest reads; ITAM_READ_TIMEOUT_S stops any read that
    runs longer (ITAM_REPORT_TIMEOUT_S, default 120, for whole-estate reports), ITAM_READS_PER_REQUEST caps the reads one API request runs at once, and
    ITAM_REQUEST_TIMEOUT_S bounds a whole API request;
    ITAM_EVALUATE_FINDINGS=0 skips the findings evaluation after each ingest run;
    ITAM_INGEST_BATCH_ROWS bounds what one write transaction of an ingest carries (a run that fits
    in one batch is one transaction, all or nothing); ITAM_CHANGE_LOG=0 turns the change log off,
    ITAM_CHANGE_RETENTION_DAYS prunes it after each run (0 keeps everything).
    """

    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = ""
    neo4j_password: str = ""
    neo4j_database: str = "neo4j"
    home: Path = field(default_factory=lambda: Path(".itam").resolve())
    max_file_bytes: int = 256 * 1024 * 1024
    evaluate_findings: bool = True    # evaluate the findings rules after every successful ingest run
    read_timeout_s: float = 10.0
    reads_per_request: int = 4
    request_timeout_s: float = 30.0
    ingest_batch_rows: int = 20_000
    report_timeout_s: float = 120.0   # whole-estate reports (audit, licences, evidence) may read for this long
    change_log: bool = True           # record what each ingest run changed (ingest/changelog.py)
    change_retention_days: int = 0    # prune changes older than this after each run; 0 keeps them all

    @property
    def auth(self) -> tuple[str, str] | None:
        """NEO4J_USER/NEO4J_PASSWORD when given, else the local launcher's login if it has made one."""
        if self.neo4j_user:
            return self.neo4j_user, self.neo4j_password
        password = read_secret(self.home / NEO4J_PASSWORD_FILE)
        return ("neo4j", password) if password else None

    @property
    def tls(self) -> bool:
        """Bolt over TLS: the URI's scheme says so (bolt+s, neo4j+s verify the server's certificate against
        the system's CAs, or the file SSL_CERT_FILE names; +ssc accepts any certificate)."""
        return self.neo4j_uri.partition("://")[0].lower() in TLS_SCHEMES

    def unreachable(self) -> str:
        """What to tell someone whose database did not answer."""
        if self.tls:
            return (f"the graph database at {self.neo4j_uri} did not answer over TLS: does the server have TLS on "
                    "for Bolt, and is its certificate trusted (a private CA: SSL_CERT_FILE=ca.pem)?")
        return f"the graph database at {self.neo4j_uri} is not answering (itam db start)"

    @property
    def bolt_port(self) -> int:
        """The port of a local bolt:// URI (what the local launcher listens on)."""
        tail = self.neo4j_uri.rsplit(":", 1)[-1].strip("/")
        return int(tail) if tail.isdigit() else 7687

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        return cls(
            neo4j_uri=env.get("NEO4J_URI", cls.neo4j_uri),
            neo4j_user=env.get("NEO4J_USER", ""),
            neo4j_password=env.get("NEO4J_PASSWORD", ""),
            neo4j_database=env.get("NEO4J_DATABASE", "neo4j"),
            home=Path(env.get("ITAM_HOME", ".itam")).resolve(),
            max_file_bytes=_int_env("ITAM_MAX_FILE_MB", 256) * 1024 * 1024,
            evaluate_findings=env.get("ITAM_EVALUATE_FINDINGS", "1") not in ("0", "false", "no"),
            read_timeout_s=float(_int_env("ITAM_READ_TIMEOUT_S", 10)),
            reads_per_request=_int_env("ITAM_READS_PER_REQUEST", 4),
            request_timeout_s=float(_int_env("ITAM_REQUEST_TIMEOUT_S", 30)),
            ingest_batch_rows=positive_int_env("ITAM_INGEST_BATCH_ROWS", 20_000),
            report_timeout_s=float(positive_int_env("ITAM_REPORT_TIMEOUT_S", 120)),
            change_log=env.get("ITAM_CHANGE_LOG", "1") not in ("0", "false", "no"),
            change_retention_days=_int_env("ITAM_CHANGE_RETENTION_DAYS", 0),
        )


def data_file_loader(env: str, default: Path, load: Callable[[Path], T]) -> Callable[[], T]:
    """A loader for a data file named by `env` (else `default`) that re-reads it only when it changes."""
    cache: dict[tuple[str, float], T] = {}

    def current() -> T:
        path = Path(os.environ.get(env) or default)
        try:
            stamp = (str(path), path.stat().st_mtime)
        except OSError:
            stamp = (str(path), 0.0)
        if stamp not in cache:
            cache.clear()
            cache[stamp] = load(path)
        return cache[stamp]
    return current
