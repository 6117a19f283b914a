"""The local Neo4j: Neo4j Community 5.26 embedded in a small Java launcher.

`build()` resolves the jars from Maven Central with `mvn` (kept in ~/.m2 between
runs), `start()` runs the launcher with `java -cp`, writes a pid file and waits
until Bolt answers, `stop()` sends SIGTERM so the database shuts down cleanly.

The database requires a login: user `neo4j` with a random password made on first start and
kept in ITAM_HOME/neo4j-password (mode 0600), which every client of this home reads.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from neo4j import GraphDatabase
from neo4j.exceptions import ServiceUnavailable

from graph.local_secrets import NEO4J_PASSWORD_FILE, local_secret

LAUNCHER_DIR = Path(__file__).resolve().parent / "neo4j_launcher"
JVM_FLAGS = [
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-XX:+UseG1GC",
]


class LauncherError(RuntimeError):
    """The local Neo4j could not be built, started or stopped; the message says what to do."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require(tool: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise LauncherError(f"'{tool}' is not on PATH: {why}")
    return path


def build(quiet: bool = True) -> Path:
    """Compile the launcher and copy Neo4j's jars to target/lib; a no-op when done already."""
    target = LAUNCHER_DIR / "target"
    marker = target / "classes" / "itam" / "Neo4jLauncher.class"
    sources = [LAUNCHER_DIR / "pom.xml", *LAUNCHER_DIR.glob("src/main/java/itam/*.java")]
    fresh = marker.exists() and all(src.stat().st_mtime <= marker.stat().st_mtime for src in sources)
    if fresh and any((target / "lib").glob("neo4j-kernel-*.jar")):
        return target
    _require("java", "install a JDK 17 (Debian: openjdk-17-jdk-headless)")
    mvn = _require("mvn", "install Maven (Debian: maven) to fetch Neo4j's jars")
    cmd = [mvn, "-B", "package", "dependency:copy-dependencies", "-DskipTests"]
    if quiet:
        cmd.insert(2, "-q")
    result = subprocess.run(cmd, cwd=LAUNCHER_DIR, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise LauncherError(f"building the Neo4j launcher failed (mvn exit {result.returncode}):\n{tail}")
    return target


@dataclass
class LocalNeo4j:
    """One embedded Neo4j process with its data directory, pid file and log."""

    home: Path
    port: int = 7687
    heap_mb: int = 2048
    pagecache_mb: int = 512
    host: str = "127.0.0.1"

    @property
    def uri(self) -> str:
        return f"bolt://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "neo4j.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "neo4j-launcher.log"

    @property
    def password_file(self) -> Path:
        return self.home / NEO4J_PASSWORD_FILE

    @property
    def auth(self) -> tuple[str, str]:
        """The login of this database (the password is made on first use)."""
        return "neo4j", local_secret(self.password_file)

    def pid(self) -> int | None:
        """The pid of a running launcher for this home, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def is_ready(self) -> bool:
        """True when Bolt accepts a session and runs a query."""
        try:
            with GraphDatabase.driver(self.uri, auth=self.auth, connection_timeout=2) as driver:
                with driver.session() as session:  # auto-commit: no retries, answers at once
                    session.run("RETURN 1").consume()
            return True
        except (ServiceUnavailable, OSError):
            return False
        except Exception:  # noqa: BLE001 - a half-started server answers with assorted errors
            return False

    def start(self, timeout: float = 120.0) -> int:
        """Start the database unless it runs already; return its pid once Bolt answers."""
        running = self.pid()
        if running is not None:
            if not self.is_ready():
                self._wait_ready(running, timeout)
            return running
        target = build()
        java = _require("java", "install a JDK 17 (Debian: openjdk-17-jdk-headless)")
        self.home.mkdir(parents=True, exist_ok=True)
        local_secret(self.password_file)
        classpath = f"{target / 'lib'}/*{os.pathsep}{target / 'classes'}"
        cmd = [java, f"-Xmx{self.heap_mb}m", f"-Xms{min(self.heap_mb, 512)}m", *JVM_FLAGS,
               "-cp", classpath, "itam.Neo4jLauncher",
               str(self.home / "db"), str(self.port), str(self.pagecache_mb), self.host]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True,
                                    env={**os.environ, "ITAM_NEO4J_PASSWORD_FILE": str(self.password_file)})
        self.pid_file.write_text(str(proc.pid))
        try:
            self._wait_ready(proc.pid, timeout, proc)
        except LauncherError:
            if proc.poll() is None:      # started but not answering: do not leave it running unseen
                self.stop()
            raise
        return proc.pid

    def _wait_ready(self, pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise LauncherError(f"Neo4j exited with code {proc.returncode}; last log lines:\n{self._log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.25)  # polling a port for readiness, not synchronising tests
        raise LauncherError(f"Neo4j (pid {pid}) did not answer on {self.uri} within {timeout:.0f}s:\n{self._log_tail()}")

    def stop(self, timeout: float = 90.0) -> bool:
        """SIGTERM the launcher and wait for a clean shutdown; False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                waited, _ = os.waitpid(pid, os.WNOHANG)
                if waited == pid:
                    break
            except ChildProcessError:
                pass  # not our child: poll with signal 0 instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            raise LauncherError(f"Neo4j (pid {pid}) did not stop within {timeout:.0f}s")
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """End the database at once with SIGKILL, the way a crash or the OOM killer would (fault tests)."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)      # our child: reap it, or it lingers as a zombie that looks alive
        except ChildProcessError:
            pass
        self.pid_file.unlink(missing_ok=True)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
