"""Errors a user can act on: which file, which line or record, which field, what is wrong."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class IngestError(Exception):
    """The input was refused; nothing was written. Carries every problem found (up to a limit)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems[:MAX_PROBLEMS]
        more = len(problems) - len(self.problems)
        text = "\n".join(str(p) for p in self.problems)
        if more > 0:
            text += f"\n... and {more} more problems"
        super().__init__(text)

    @classmethod
    def one(cls, file: str | Path, message: str, line: int | None = None, field: str | None = None) -> "IngestError":
        return cls([Problem(str(file), message, line, field)])


class ProblemList:
    """Collects problems across a whole file so the user sees them all at once."""

    def __init__(self, file: str | Path):
        self.file = str(file)
        self.problems: list[Problem] = []

    def add(self, message: str, line: int | None = None, field: str | None = None) -> None:
        self.problems.append(Problem(self.file, message, line, field))

    def raise_if_any(self) -> None:
        if self.problems:
            raise IngestError(self.problems)


def read_limited(path: Path, limit_bytes: int) -> bytes:
    """A file's bytes, refusing a missing file or one over the size limit before reading it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IngestError.one(path, "no such file") from None
    if not path.is_file():
        raise IngestError.one(path, "not a regular file")
    if size > limit_bytes:
        raise IngestError.one(path, f"file is {size} bytes, over the limit of {limit_bytes} bytes (ITAM_MAX_FILE_MB)")
    return path.read_bytes()


def load_json(path: Path, limit_bytes: int) -> Any:
    """A whole JSON file, within the size limit; malformed, non-UTF-8 or absurdly nested input is refused."""
    data = read_limited(path, limit_bytes)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise IngestError.one(path, f"malformed JSON: {exc.msg}", exc.lineno) from None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise IngestError.one(path, f"not UTF-8 text (byte {exc.start})", line) from None
    except RecursionError:
        raise IngestError.one(path, "malformed JSON: nested too deeply") from None
    except ValueError as exc:           # e.g. an integer with thousands of digits
        raise IngestError.one(path, f"malformed JSON: {exc}") from None


class RunFailed(Exception):
    """A valid run that failed while writing. `committed` batches landed (each a true observation);
    the run is recorded as failed and nothing was marked stale: running the same files again converges."""

    def __init__(self, source: str, run_id: str, committed: int, total: int, cause: BaseException,
                 recorded: bool = True):
        self.source, self.run_id, self.committed, self.total, self.cause = source, run_id, committed, total, cause
        self.recorded = recorded
        super().__init__(self.explain())

    @property
    def out_of_memory(self) -> bool:
        text = f"{type(self.cause).__name__}: {self.cause}"
        return any(mark in text for mark in ("heap space", "OutOfMemory", "MemoryPoolOutOfMemory",
                                             "MemoryLimitExceeded", "TransactionOutOfMemory"))

    def explain(self) -> str:
        """One line a user can act on: what happened, what is in the graph, what to do."""
        if self.out_of_memory:
            why = ("the database ran out of memory; give Neo4j a larger heap (ITAM_NEO4J_HEAP_MB, or "
                   "server.memory.heap.max_size in production) or lower ITAM_INGEST_BATCH_ROWS")
        elif isinstance(self.cause, IngestError):      # a file changed under the run: the input, not the write
            why = str(self.cause).splitlines()[0]
        else:
            why = f"the write failed ({type(self.cause).__name__}: {str(self.cause).splitlines()[0] if str(self.cause) else ''})"
        if self.committed == 0:
            written = "nothing was written"
        else:
            written = f"{self.committed} of {self.total} batches were written and are true observations"
        marked = ("the run is recorded as failed" if self.recorded else
                  "the run will be recorded as failed once the database answers")
        return f"{self.source} run {self.run_id}: {why}; {written}; {marked}; nothing was marked stale; run it again"
