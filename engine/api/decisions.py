"""The gate decision log: recording gate decisions and reading them back.

A log lives in the registry database (table ``gate_decision``, created on the first
decision a writable gate records) or in a JSON-lines file (``--decision-log FILE``,
``AIGOV_DECISION_LOG``) for a gate whose database role may not write. Either way the entries
form one hash chain (:mod:`aigov.results.decision_log`), and appends are serialised so that
concurrent gates cannot fork it: on PostgreSQL by a transaction-scoped advisory lock, on
SQLite by the write lock every write transaction takes first (``BEGIN IMMEDIATE``), on a file
by an exclusive ``flock``; and a unique ``prev`` column refuses a fork in the database even
without them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from aigov import __version__
from aigov.errors import AigovError, NotFoundError, clip
from aigov.registry.run_tables import GateDecisionRow
from aigov.registry.store import Registry, db_error, sa_table
from aigov.results.decision_log import (
    GENESIS,
    ChainReport,
    DecisionEntry,
    StoredEntry,
    canonical,
    check_chain,
    ci_context,
    seal,
)
from aigov.results.decisions import GateDecision
from aigov.shipped import display_path

# Transaction-scoped advisory lock that serialises appends on PostgreSQL (the store's own
# keys are 4247 and 4248).
PG_DECISION_LOCK = 4249
# Columns that copy an entry's fields; they must agree with the entry.
COPIED = ("seq", "digest", "prev", "recorded_at", "decision", "model")
_TAIL_CHUNK = 64 * 1024

Seal = Callable[[int, str], dict[str, Any]]


class DecisionLogError(AigovError):
    """A gate decision could not be recorded, or a decision log could not be read."""


class DecisionLog(ABC):
    """Where decisions are recorded: the registry database or a JSON-lines file."""

    label: str

    @abstractmethod
    def append(self, make: Seal) -> dict[str, Any]:
        """Append the entry ``make(seq, prev)`` builds after the newest one, atomically and
        serialised with every other append; returns it."""

    @abstractmethod
    def stored(self) -> Iterator[StoredEntry]:
        """Every entry as stored, oldest first."""


class DatabaseLog(DecisionLog):
    def __init__(self, registry: Registry):
        self.registry = registry
        self.label = f"the decision log of {registry.display_url}"

    def append(self, make: Seal) -> dict[str, Any]:
        table = sa_table(GateDecisionRow)
        try:
            with self.registry.write() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({PG_DECISION_LOCK})"))
                table.create(conn, checkfirst=True)  # a registry made before the log existed
                newest = conn.execute(
                    sa.select(table.c.seq, table.c.digest).order_by(table.c.seq.desc()).limit(1)
                ).first()
                seq, prev = (newest.seq + 1, newest.digest) if newest else (1, GENESIS)
                data = make(seq, prev)
                conn.execute(
                    sa.insert(table).values(
                        **{name: data[name] for name in COPIED}, entry=canonical(data)
                    )
                )
        except sa.exc.DBAPIError as exc:
            raise DecisionLogError(
                f"cannot write {self.label}: {db_error(exc)} (a gate role that may not write "
                "the database records to a file: --decision-log FILE or AIGOV_DECISION_LOG)"
            ) from None
        return data

    def stored(self) -> Iterator[StoredEntry]:
        table = sa_table(GateDecisionRow)
        try:
            with self.registry.read() as conn:
                if not sa.inspect(conn).has_table(table.name):
                    return
                for row in conn.execute(sa.select(table).order_by(table.c.seq)):
                    yield _stored_row(row)
        except sa.exc.DBAPIError as exc:
            raise DecisionLogError(f"cannot read {self.label}: {db_error(exc)}") from None


def _stored_row(row: Any) -> StoredEntry:
    location = f"row #{row.seq}"
    data, error = _parse(row.entry)
    if data is not None:
        differ = [name for name in COPIED if getattr(row, name) != data.get(name)]
        if differ:
            error = (
                f"its columns {', '.join(differ)} differ from its entry: the row was "
                "changed after it was recorded"
            )
    return StoredEntry(location=location, data=data, error=error)


def _parse(text: str | bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One stored entry's JSON: (data, None), or (None, what is wrong with it)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            raise ValueError("duplicate key")
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # JSONDecodeError, duplicate keys, undecodable bytes
        return None, f"invalid JSON: {clip(str(exc))}"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    return data, None


class FileLog(DecisionLog):
    """A JSON-lines file: one entry per line, in canonical JSON."""

    def __init__(self, path: Path):
        self.path = path
        self.label = display_path(path)

    def _open(self, flags: int) -> int:
        try:
            fd = os.open(self.path, flags | getattr(os, "O_NONBLOCK", 0), 0o644)
        except OSError as exc:
            raise DecisionLogError(
                f"cannot open the decision log {self.label}: {exc.strerror}"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DecisionLogError(f"the decision log {self.label} is not a regular file")
        return fd

    def append(self, make: Seal) -> dict[str, Any]:
        try:
            import fcntl
        except ImportError:  # no flock: appends could interleave
            raise DecisionLogError(
                "a decision-log file needs file locking (fcntl), which this platform lacks"
            ) from None
        fd = self._open(os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = self._after(_last_line(fd))
            data = make(seq, prev)
            line = (canonical(data) + "\n").encode("utf-8")
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError as exc:
            raise DecisionLogError(f"cannot write the decision log {self.label}: {exc}") from None
        finally:
            os.close(fd)  # releases the lock
        return data

    def _after(self, last: bytes | None) -> tuple[int, str]:
        """The seq and prev of the entry that follows the line ``last`` (None: an empty log)."""
        if last is None:
            return 1, GENESIS
        data, error = _parse(last)
        if data is not None and not last.endswith(b"\n"):
            error = "its last line is incomplete"
        seq, digest = (data or {}).get("seq"), (data or {}).get("digest")
        if error is None and not (isinstance(seq, int) and isinstance(digest, str)):
            error = "its last line is not a decision-log entry"
        if error is not None:
            raise DecisionLogError(
                f"cannot append to the decision log {self.label}: {error} (see 'aigov "
                "decisions verify --decision-log FILE')"
            )
        assert isinstance(seq, int) and isinstance(digest, str)
        return seq + 1, digest

    def stored(self) -> Iterator[StoredEntry]:
        fd = self._open(os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                location = f"{self.label}:{number}"
                data, error = _parse(raw)
                if error is None and not raw.endswith(b"\n"):
                    error = "the line is incomplete (no newline: a write was cut short)"
                yield StoredEntry(location=location, data=data, error=error)


def _last_line(fd: int) -> bytes | None:
    """The last line of the file (with its newline, if it has one); None if it is empty."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    end = size - 1 if os.pread(fd, 1, size - 1) == b"\n" else size
    tail = b""
    position = end
    while position > 0:
        start = max(0, position - _TAIL_CHUNK)
        tail = os.pread(fd, position - start, start) + tail
        position = start
        newline = tail.rfind(b"\n", 0, len(tail))
        if newline >= 0:
            tail = tail[newline + 1 :]
            break
    return tail + (b"\n" if end < size else b"")


def open_log(registry: Registry | None, path: str | Path | None) -> DecisionLog:
    """The file log at ``path`` when one is given, else the registry database's log."""
    if path:
        return FileLog(Path(path))
    if registry is None:
        raise ValueError("a decision log needs a registry or a file")
    return DatabaseLog(registry)


def record_decision(
    log: DecisionLog,
    decision: GateDecision,
    *,
    deployment_source: str,
    environ: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> DecisionEntry:
    """Append ``decision`` to ``log`` (with the CI context of ``environ``, default the
    process environment). Raises :class:`DecisionLogError` if it cannot be recorded."""
    recorded_at = now or dt.datetime.now(dt.UTC)
    ci = ci_context(os.environ if environ is None else environ)

    def make(seq: int, prev: str) -> dict[str, Any]:
        return seal(
            decision,
            seq=seq,
            prev=prev,
            recorded_at=recorded_at,
            deployment_source=deployment_source,
            ci=ci,
            tool_version=__version__,
        )

    return DecisionEntry.model_validate(log.append(make))


def list_decisions(log: DecisionLog) -> list[DecisionEntry]:
    """Every entry, oldest first. An entry that cannot be read is an error naming it (the
    chain itself is checked by :func:`verify_log`)."""
    return [_entry(stored, log) for stored in log.stored()]


def _entry(stored: StoredEntry, log: DecisionLog) -> DecisionEntry:
    hint = f"(run 'aigov decisions verify' on {log.label})"
    if stored.data is None:
        raise DecisionLogError(f"{stored.location}: unreadable decision-log entry: {stored.error}")
    try:
        return DecisionEntry.model_validate(stored.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise DecisionLogError(
            f"{stored.location}: invalid decision-log entry: field '{where}': {first['msg']} "
            + hint
        ) from None


def find_decision(log: DecisionLog, ref: str) -> DecisionEntry:
    """The entry ``ref`` names: its number (``7``, ``#7``), ``latest``, or a prefix of at
    least 8 characters of its digest."""
    entries = list_decisions(log)
    key = ref.strip().lstrip("#")
    if not entries:
        raise NotFoundError(f"no decision '{ref}': {log.label} holds no decisions")
    if key == "latest":
        return entries[-1]
    if key.isdigit():
        found = [e for e in entries if e.seq == int(key)]
    elif len(key) >= 8:
        found = [e for e in entries if e.digest.startswith(key.lower())]
    else:
        found = []
    if len(found) != 1:
        reason = "ambiguous decision" if found else "no decision"
        raise NotFoundError(
            f"{reason} '{clip(ref)}' in {log.label} (a number, latest, or 8+ characters of "
            "a digest; see 'aigov decisions list')"
        )
    return found[0]


def verify_log(log: DecisionLog, anchors: Iterable[str] = ()) -> ChainReport:
    """Check the whole chain (see :func:`aigov.results.decision_log.check_chain`)."""
    return check_chain(log.label, log.stored(), anchors)
