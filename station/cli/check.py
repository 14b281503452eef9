"""`station check`: typed identifiers, or any number of them streamed from standard input.

What is recorded (the law asks who checked what, when, why and against which register):
- up to :data:`~station.checks.MAX_MANUAL_IDENTIFIERS` identifiers are one manual check
  record, every identifier on it (so later checks of the same identifier show it), and a bad
  identifier stops the command before anything is stored;
- a longer list is a *bulk look-up*, recorded as one batch of kind ``list``: one record with
  officer, purpose, station, register version, count, hits and the SHA-256 of the list, one
  item row per identifier (the full explanation only for hits), and one audit entry when it
  starts and one when it ends, not one per identifier. It is read, checked, stored and
  answered chunk by chunk, so its length is not limited by memory; a bad identifier is
  answered with an error naming its line and the rest go on (exit status 2 at the end).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from station.errors import IdentifierRejected, InputError

#: lines checked, stored and printed together in a bulk look-up
STREAM_CHUNK = 5000


@dataclass
class Source:
    """Numbered identifiers from arguments and standard input, with what was read so far."""

    args: list[str]
    stdin: IO[bytes] | None = None
    sha256: Any = field(default_factory=hashlib.sha256)
    bytes_read: int = 0

    def __iter__(self) -> Iterator[tuple[str, int, str]]:
        """(where, number, identifier) for each non-blank argument or line."""
        for pos, arg in enumerate(self.args, start=1):
            if arg != "-":
                yield f"argument {pos}", pos, arg.strip()
                continue
            if self.stdin is None:
                continue
            for number, raw in enumerate(self.stdin, start=1):
                self.sha256.update(raw)
                self.bytes_read += len(raw)
                text = raw.decode("utf-8", errors="replace").strip()
                if text:
                    yield f"line {number}", number, text

    def size(self) -> int | None:
        """Bytes standard input holds when it is a file (for a progress bar), else None."""
        if self.stdin is None or "-" not in self.args:
            return None
        try:
            st = os.fstat(self.stdin.fileno())
        except (OSError, ValueError):
            return None
        import stat

        return st.st_size if stat.S_ISREG(st.st_mode) and st.st_size > 0 else None


def chunks(
    items: Iterable[tuple[str, int, str]], size: int
) -> Iterator[list[tuple[str, int, str]]]:
    chunk: list[tuple[str, int, str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Outcome:
    """What the command did, for its exit status and its one JSON document."""

    record_kind: str
    record_id: str
    register_version: int
    answers: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


Emit = Callable[[list[dict[str, Any]]], None]


def run_check(
    ctx: Any,
    source: Source,
    purpose: str,
    officer: str,
    emit: Emit,
    keep: bool,
    progress: Callable[[int, int | None], None] | None = None,
) -> Outcome:
    """Check every identifier of ``source``; ``emit`` gets the answers chunk by chunk.

    ``keep`` holds all answers for one JSON document at the end (else they are only emitted).
    """
    from station.checks.service import MAX_MANUAL_IDENTIFIERS

    stream = iter(source)
    head = [item for _, item in zip(range(MAX_MANUAL_IDENTIFIERS + 1), stream, strict=False)]
    if not head:
        raise InputError("no identifiers given")
    if len(head) <= MAX_MANUAL_IDENTIFIERS:
        return _manual(ctx, head, purpose, officer, emit)
    from itertools import chain

    from station.batches.service import BatchService

    service = BatchService(ctx.db, ctx.matcher, ctx.settings)
    where = "<stdin>" if "-" in source.args else "<arguments>"
    batch_id = service.start_list(officer, purpose, where)
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    done = 0
    try:
        for chunk in chunks(chain(head, stream), STREAM_CHUNK):
            answers = service.check_list_chunk(batch_id, done, [(n, raw) for _, n, raw in chunk])
            done += len(chunk)
            for (where_, _n, _raw), answer in zip(chunk, answers, strict=True):
                if "error" in answer:
                    answer["error"] = f"{where_}: {answer['error']}"
                    rejected.append(answer)
            if keep:
                kept.extend(answers)
            emit(answers)
            if progress is not None:
                progress(source.bytes_read if source.size() else done, source.size())
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or repr(exc)
        service.finish_list(
            batch_id, source.sha256.hexdigest(), source.bytes_read, len(rejected), reason
        )
        raise
    doc = service.finish_list(batch_id, source.sha256.hexdigest(), source.bytes_read, len(rejected))
    return Outcome("batch", batch_id, int(doc["register_version"]), kept, rejected)


def _manual(
    ctx: Any, items: list[tuple[str, int, str]], purpose: str, officer: str, emit: Emit
) -> Outcome:
    """A short list: one manual check record, all identifiers valid or nothing stored."""
    from station.checks.service import CheckRequest
    from station.identifiers import validate_entry

    for where, _n, raw in items:
        try:
            validate_entry(raw)
        except IdentifierRejected as exc:
            raise IdentifierRejected(f"{where} ({raw[:40]!r}): {exc}") from exc
    doc = (
        ctx.check_service()
        .manual(
            CheckRequest(
                purpose=purpose,  # type: ignore[arg-type]
                officer=officer,
                identifiers=[raw for _, _, raw in items],
            )
        )
        .document()
    )
    emit(doc["matches"])
    return Outcome("check", doc["id"], int(doc.get("register_version") or 0), doc["matches"], [])


def jsonl_writer(out: IO[str]) -> Emit:
    def emit(answers: list[dict[str, Any]]) -> None:
        out.write("".join(json.dumps(a, default=str) + "\n" for a in answers))
        out.flush()

    return emit


def stdin_bytes() -> IO[bytes]:
    return sys.stdin.buffer
