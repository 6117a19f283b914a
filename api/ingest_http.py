"""Ingest over HTTP for jobs: `POST /ingest/{source}` (multipart files) and `GET /ingest/runs/{id}`.

The upload is streamed to temporary files (each held to ITAM_MAX_FILE_MB), validated exactly as the
CLI validates it (a malformed file is refused with the CLI's error and nothing is written), and then
written on a background thread; the answer (202) carries the run id at once. One run per source and
scope at a time: a second gets 409 with the running run's id, whether the first runs in this process
(an in-process registry) or in another (an IngestRun recorded as running).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.auth import Principal, Role, TokenAuth
from graph.config import Settings
from graph.store import Store
from ingest import pipeline
from ingest.errors import IngestError
from ingest.registry import BY_SOURCE
from queries.catalog import GraphReader, named
from queries.ops import ingest_run

MAX_UPLOAD_FILES = 64
UPLOAD_FILES_PER_REQUEST = 4        # the request's cap: this many files at the per-file limit
UPLOAD_TIMEOUT_S = 600.0
RUNNING_FOR_AT_MOST = timedelta(hours=24)    # a 'running' record older than this is a crashed process's
KEPT_FINISHED = 200
CHUNK = 1024 * 1024

RUNNING_ELSEWHERE = named(
    "running_ingest_runs", "operations",
    "Ingest runs of a source recorded as running (by any process) since a moment, with their scopes.",
    """
MATCH (r:IngestRun {source: $source})
WHERE r.status = 'running' AND r.started >= $since
RETURN r.id AS id, r.scopes AS scopes
""")


def upload_body_limit(settings: Settings) -> int:
    """The request-body cap of an upload (multipart framing included)."""
    return settings.max_file_bytes * UPLOAD_FILES_PER_REQUEST + CHUNK


@dataclass
class Job:
    run_id: str
    source: str
    scopes: frozenset[str]
    dry_run: bool
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "running"
    summary: dict | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        data = {"id": self.run_id, "source": self.source, "status": self.status, "dry_run": self.dry_run,
                "scopes": sorted(self.scopes), "started": self.started.isoformat(), "error": self.error}
        if self.summary:
            data.update({k: v for k, v in self.summary.items() if k not in ("run_id", "source", "status")})
        return data


class IngestJobs:
    """Runs of this process: started on a thread, looked up by id; one per source and scope."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        with self.lock:
            if self._store is None:
                self._store = Store.from_settings(self.settings)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def running_overlap(self, source: str, scopes: frozenset[str]) -> str | None:
        return next((j.run_id for j in self.jobs.values()
                     if j.status == "running" and j.source == source and j.scopes & scopes), None)

    def claim(self, job: Job, elsewhere: list[dict]) -> str | None:
        """Register the job unless a run of the same source and scope is running; else that run's id."""
        for other in elsewhere:
            # a run recorded without scopes may cover the whole source
            if other["id"] not in self.jobs and (not other["scopes"] or set(other["scopes"]) & job.scopes):
                return other["id"]
        with self.lock:
            clash = self.running_overlap(job.source, job.scopes)
            if clash:
                return clash
            self.jobs[job.run_id] = job
            finished = [j for j in self.jobs.values() if j.status != "running"]
            for old in sorted(finished, key=lambda j: j.started)[:max(0, len(finished) - KEPT_FINISHED)]:
                del self.jobs[old.run_id]
        return None

    def start(self, job: Job, paths: list[Path], folder: Path, partial: bool) -> None:
        def work() -> None:
            try:
                summary = pipeline.ingest_files(self.store, job.source, paths, self.settings, dry_run=job.dry_run,
                                                partial=partial, run_id=job.run_id)
                job.summary, job.status = summary.as_dict(), summary.status
            except IngestError as exc:
                job.status, job.error = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - recorded on the run; the API process carries on
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        threading.Thread(target=work, name=f"ingest-{job.run_id}", daemon=True).start()


async def _save_uploads(request: Request, folder: Path, limit: int) -> list[Path]:
    """The request's files on disk under their own names (no directories), each at most `limit` bytes."""
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=MAX_UPLOAD_FILES)
    uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not uploads:
        raise HTTPException(400, "no files: send them as multipart form fields (curl -F file=@scan.xml)")
    paths = []
    try:
        for n, upload in enumerate(uploads):
            name = Path(upload.filename or f"upload-{n}").name or f"upload-{n}"
            path = folder / f"{n:02d}" / name
            path.parent.mkdir()
            size = 0
            with path.open("wb") as out:
                while chunk := await upload.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(413, f"{name}: file is over the limit of {limit} bytes "
                                                 "(ITAM_MAX_FILE_MB); nothing was written")
                    out.write(chunk)
            paths.append(path)
    finally:
        await form.close()
    return paths


def ingest_router(settings: Settings, auth: TokenAuth) -> APIRouter:
    """The routes; the app keeps an IngestJobs in `app.state.ingest`."""
    router = APIRouter()
    ingester = auth.require(Role.INGESTER)
    reader_role = auth.require(Role.READER)

    @router.post("/ingest/{source}", status_code=202)
    async def post_ingest(source: str, request: Request, dry_run: bool = False, partial: bool = False,
                          principal: Principal = Depends(ingester)):
        if source not in BY_SOURCE:
            raise HTTPException(404, f"unknown source {source!r}; known: {', '.join(sorted(BY_SOURCE))}")
        jobs: IngestJobs = request.app.state.ingest
        folder = Path(tempfile.mkdtemp(prefix="itam-upload-"))
        started = False
        try:
            paths = await _save_uploads(request, folder, settings.max_file_bytes)
            try:        # validated now, as the CLI does, so a malformed file is refused before anything runs
                reading = await run_in_threadpool(pipeline.read_run, source, paths, settings.max_file_bytes,
                                                  lambda *_: None, 0)     # scopes only: no hosts kept
            except IngestError as exc:
                raise HTTPException(422, re.sub(re.escape(str(folder)) + r"/\d+/", "", str(exc))) from None
            job = Job(f"run-{uuid.uuid4()}", source, frozenset(reading.batch.scopes or [f"{source}:*"]), dry_run)
            since = datetime.now(UTC) - RUNNING_FOR_AT_MOST
            elsewhere = await request.app.state.reader.rows(RUNNING_ELSEWHERE, source=source, since=since)
            clash = jobs.claim(job, elsewhere)
            if clash:
                return JSONResponse({"detail": f"a run of {source} for the same scope is running: {clash}",
                                     "running": clash}, status_code=409)
            jobs.start(job, paths, folder, partial)
            started = True
            return {"id": job.run_id, "status": job.status, "source": source, "dry_run": dry_run,
                    "files": [p.name for p in paths], "requested_by": principal.name}
        finally:
            if not started:
                shutil.rmtree(folder, ignore_errors=True)

    @router.get("/ingest/runs/{run_id}")
    async def get_run(run_id: str, request: Request, principal: Principal = Depends(reader_role)):
        job = request.app.state.ingest.jobs.get(run_id)
        if job is not None and (job.status == "running" or job.dry_run or job.error):
            return job.as_dict()
        reader: GraphReader = request.app.state.reader
        run = await ingest_run(reader, run_id)
        if run is None:
            if job is not None:
                return job.as_dict()
            raise HTTPException(404, f"no ingest run {run_id!r}")
        return {**run, "started": run["started"].isoformat(),
                "finished": run["finished"].isoformat() if run.get("finished") else None}

    return router
