"""Who looked up what: one JSON line per GraphQL request, for a SIEM.

Each record has the time, the principal (role name and the caller: a digest of the API token, or
the client address), the operation name, a SHA-256 digest of the query text and variables (so
repeated questions can be matched without the log holding the identifiers asked about), the
duration and the outcome. ITAM_ACCESS_LOG picks the sink: unset or '-' for stdout, a path to append
to a file (created with mode 0600), 'off' for none. Requests refused before GraphQL runs (401, 413,
429, a bad Host) are not in this log; the server's own log has them.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from strawberry.extensions import SchemaExtension


def query_digest(query: str | None, variables: dict[str, Any] | None) -> str:
    text = json.dumps({"query": query or "", "variables": variables or {}}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_record(record: dict[str, Any]) -> None:
    sink = os.environ.get("ITAM_ACCESS_LOG", "-")
    if sink == "off":
        return
    line = json.dumps(record, sort_keys=True) + "\n"
    if sink == "-":
        sys.stdout.write(line)
        sys.stdout.flush()
        return
    fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())      # one write per line: appends do not interleave
    finally:
        os.close(fd)


class AccessLog(SchemaExtension):
    """Writes the access record once the operation is over (whatever its outcome)."""

    def on_operation(self):
        started = time.perf_counter()
        yield
        context = self.execution_context
        result = context.result
        errors = (result.errors if result is not None else None) or context.pre_execution_errors or []
        principal = getattr(context.context, "principal", None)
        write_record({
            "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "principal": getattr(principal, "name", None),
            "caller": getattr(principal, "caller", None),
            "operation": context.operation_name,
            "query_sha256": query_digest(context.query, context.variables),
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "outcome": "error" if errors else "ok",
            "errors": len(errors),
        })
