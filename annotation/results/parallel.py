"""Computing the parts of a refresh on several cores, in forked processes.

Every result after the snapshot is a pure function of the frozen `StudyData`, so the parts
(`Part`: a whole result, or one piece of a result split with `Split`) can run anywhere
the snapshot is in memory. `run` forks `processes - 1` children after the snapshot was
read; the children inherit it (copy-on-write: nothing is sent to them) and the parent
works too. Each process takes the next part from a queue in the order given (costliest
first, so the last parts to start are short ones), and a child sends back the values of
the parts it ran (pickled; results are plain dicts and lists, cheap to send).

`read_ahead` forks a child of another kind at the start of a refresh: it reads part of the
snapshot (the ratings) on a database connection of its own while the parent reads the rest.

`start_early` forks one more child sooner, while the snapshot still reads its ratings
(`snapshot.load`'s `before_ratings`), for the parts marked `early` (they read no rating;
the tables not read yet raise on any use, and a part that failed there runs again
with every table read); `run` takes their values from it last.

Safe where the app runs it (the background worker, gunicorn's sync workers, commands):

- Children never use the database: the parent's connections are inherited, and a
  child that ran a query would share the parent's socket or SQLite handle, so every
  query in a child raises (an execute wrapper), and a child leaves with `os._exit`,
  never closing what it inherited. The one exception, `read_ahead`'s reader, queries on
  new connections it opens and closes itself, and keeps the inherited ones referenced
  (never closed, never collected: closing would end the parent's PostgreSQL session, or
  checkpoint and remove SQLite's write-ahead log under it).
- It forks only from a process with no other thread (another thread might hold a lock
  the child would wait on forever) and only where `os.fork` exists; otherwise, and with
  `RESULTS_PROCESSES = 1`, the parts run one after another here, as they always did.
- No process is left behind: the parent reaps every child before it returns, and kills
  and reaps them before it raises; a child whose parent died finishes its parts
  (seconds), finds the pipe closed, and exits.
- A part that raises raises in the parent (the first in the given order), as it would
  serially; a part a child did not send back (the child died) runs in the parent.

The values are the same, to the last bit, whatever the number of processes: each part
computes the same thing from the same snapshot with its own seed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

# The queue holds part numbers as 2-byte records written before the fork: at most this
# many parts (a pipe holds 64 KiB without a reader).
MAX_PARTS = 16_384
_RECORD = 2


@dataclass(frozen=True)
class Part:
    """One piece of work: `run()` gives a value (picklable when run in a child).
    `weight`: its rough cost, for ordering (the costliest start first)."""

    name: str
    run: Callable[[], Any] = field(repr=False)
    weight: float = 1.0
    # Reads no rating: may start while the snapshot's ratings are being read
    # (`snapshot.load`'s `before_ratings`).
    early: bool = False


@dataclass(frozen=True)
class Split:
    """A result computed as independent parts: `combine` builds it from their values,
    given in the order of `parts`."""

    parts: tuple[Part, ...]
    combine: Callable[[list], Any] = field(repr=False)

    def compute(self):
        """The result, its parts run here one after another."""
        return self.combine([part.run() for part in self.parts])


@dataclass
class Timing:
    """How long a part took, in the process that ran it."""

    wall: float
    cpu: float
    pid: int


def processes() -> int:
    """How many processes a refresh uses: the setting `RESULTS_PROCESSES`, by default
    the machine's cores (at least 1)."""
    configured = getattr(settings, "RESULTS_PROCESSES", None)
    return max(1, int(configured) if configured else (os.cpu_count() or 1))


def can_fork() -> bool:
    """Whether this process may fork the children: `os.fork` exists and no other thread
    runs (a thread holding a lock at the fork would leave it held in the child forever)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def start_early(parts: Sequence[Part]) -> Batch | None:
    """One child computing `parts` (the costliest first) while this process goes on (reads
    the rest of the snapshot); None where forking is not safe. Pass it to `run`."""
    if not parts or len(parts) > MAX_PARTS or not can_fork():
        return None
    return Batch(sorted(parts, key=lambda part: -part.weight), children=1)


def run(
    parts: Sequence[Part],
    *,
    processes: int = 1,
    timings: dict[str, Timing] | None = None,
    early: Batch | None = None,
) -> list:
    """The values of `parts`, in their order, computed by `processes` processes (this one
    and forked children); serially here when `processes` is 1 or forking is not safe (see
    the module docstring). How long each part took goes into `timings` (by name).

    `early`: a batch started before (`start_early`) with parts of the same names, maybe
    computed from a snapshot still being read: their values are taken from it, collected
    last (it had the head start), and a part that failed there runs again here, with
    every table read."""
    taken = {part.name for part in early.parts} if early is not None else set()
    todo = [i for i, part in enumerate(parts) if part.name not in taken]
    outcomes: dict[int, tuple[str, Any]] = {}
    workers = min(processes, len(todo))
    if workers <= 1 or len(todo) > MAX_PARTS or not can_fork():
        for i in todo:
            outcomes[i] = _attempt(parts[i], timings)
    else:
        with Batch([parts[i] for i in todo], children=workers - 1) as batch:
            batch.work(timings)
            outcomes.update((todo[j], outcome) for j, outcome in batch.collect(timings).items())
    if early is not None:
        done = {
            early.parts[j].name: outcome
            for j, outcome in early.collect(timings).items()
            if outcome[0] == "ok"
        }
        outcomes.update((i, done[part.name]) for i, part in enumerate(parts) if part.name in done)
    # A part no child sent back (a child was killed), or that failed early, runs here.
    for i in range(len(parts)):
        if i not in outcomes:
            outcomes[i] = _attempt(parts[i], timings)
    return [_unwrap(outcomes[i]) for i in range(len(parts))]


def _attempt(part: Part, timings: dict[str, Timing] | None) -> tuple[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        outcome = ("ok", part.run())
    except Exception as exc:
        outcome = ("error", exc)
    if timings is not None:
        timings[part.name] = Timing(
            time.perf_counter() - wall, time.process_time() - cpu, os.getpid()
        )
    return outcome


def _unwrap(outcome: tuple[str, Any]):
    status, value = outcome
    if status == "error":
        raise value
    return value


class Batch:
    """Parts being computed by `children` forked children, and by this process when it
    calls `work`. Each process takes the next part from a shared queue (in the order
    given) until none is left. `collect` waits for the children and gives the outcomes,
    by part number: ``("ok", value)`` or ``("error", exception)``; a part is missing
    when the child that took it died. Used as a context manager, leaving the block by an
    exception kills and reaps the children; otherwise call `collect` or `abandon`."""

    def __init__(self, parts: Sequence[Part], *, children: int):
        if len(parts) > MAX_PARTS:
            raise ValueError(f"at most {MAX_PARTS} parts")
        self.parts = list(parts)
        self.outcomes: dict[int, tuple[str, Any]] = {}
        # pid -> read end of its result pipe, until read
        self.children: dict[int, int | None] = {}
        self._queue, queue_write = os.pipe()
        try:
            records = (i.to_bytes(_RECORD, "little") for i in range(len(self.parts)))
            os.write(queue_write, b"".join(records))
        finally:
            os.close(queue_write)  # a read past the last part gets b"": the queue is empty
        try:
            for _ in range(children):
                result_read, result_write = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    os.close(result_read)
                    siblings = [fd for fd in self.children.values() if fd is not None]
                    _child(self.parts, self._queue, result_write, siblings)
                os.close(result_write)
                self.children[pid] = result_read
        except BaseException:
            self.abandon()
            raise

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abandon()

    def work(self, timings: dict[str, Timing] | None = None) -> None:
        """Take parts from the queue here until none is left."""
        self.outcomes.update(_take_parts(self.parts, self._queue, timings))

    def collect(self, timings: dict[str, Timing] | None = None) -> dict[int, tuple[str, Any]]:
        """Wait for every child; the outcomes of the parts run (see the class docstring)."""
        try:
            for pid, result_read in self.children.items():
                if result_read is None:
                    continue
                self.children[pid] = None  # closed by _receive, whatever happens there
                received = _receive(result_read)
                if received is not None:
                    outcomes, child_timings = received
                    self.outcomes.update(outcomes)
                    if timings is not None:
                        timings.update(child_timings)
        except BaseException:
            self.abandon()
            raise
        self._close(kill=False)
        return self.outcomes

    def abandon(self) -> None:
        """Kill and reap the children (their values are not wanted)."""
        self._close(kill=True)

    def _close(self, *, kill: bool) -> None:
        if self._queue is not None:
            os.close(self._queue)
            self._queue = None
        for pid, fd in self.children.items():
            if fd is not None:
                os.close(fd)
                self.children[pid] = None
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for pid in self.children:
            os.waitpid(pid, 0)
        self.children = {}


def _take_parts(
    parts: Sequence[Part], queue_read: int, timings: dict[str, Timing] | None
) -> dict[int, tuple[str, Any]]:
    """Run parts from the shared queue until it is empty (a read of one record from a
    pipe is atomic: each part is taken by exactly one process)."""
    outcomes = {}
    while record := os.read(queue_read, _RECORD):
        i = int.from_bytes(record, "little")
        outcomes[i] = _attempt(parts[i], timings)
    return outcomes


def _child(parts: Sequence[Part], queue_read: int, result_write: int, siblings: Iterable[int]):
    """A forked child: run parts from the queue, send their values, leave without
    running any exit handler (they belong to the parent: open connections, temp files)."""
    code = 1
    try:
        for fd in siblings:  # other children's result pipes: only the parent reads them
            os.close(fd)
        # A signal to the process group ends a child at once (the app's handlers, e.g. a
        # worker's "finish the current job", are the parent's business).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for alias in connections:
            connections[alias].execute_wrappers.append(_no_queries)
        timings: dict[str, Timing] = {}
        outcomes = _take_parts(parts, queue_read, timings)
        try:
            payload = pickle.dumps((outcomes, timings), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a value or an exception that does not pickle
            failed = RuntimeError(f"a result part could not be sent back: {exc!r}")
            payload = pickle.dumps(({i: ("error", failed) for i in outcomes}, timings))
        with os.fdopen(result_write, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)


def read_ahead(read: Callable[[], Any], *, using: str = "default") -> ReadAhead | None:
    """`read()`, which may query the database, run in a forked child on connections of its
    own while this process goes on; `ReadAhead.value` gives its value. None where that is
    not safe or not useful: forking is unsafe (`can_fork`), this process is inside a
    transaction (the child's connection would not see its uncommitted rows), or the
    database is an in-memory SQLite one (a new connection would find it empty)."""
    connection = connections[using]
    if not can_fork() or connection.in_atomic_block:
        return None
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return None
    if connection.vendor not in ("sqlite", "postgresql"):
        return None
    return ReadAhead(read)


class ReadAhead:
    """A forked child running `read()` on new database connections (`read_ahead`). Call
    `value` (waits for it) or `abandon` (kills it); either reaps the child."""

    def __init__(self, read: Callable[[], Any]):
        result_read, result_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(result_read)
            _reader(read, result_write)
        os.close(result_write)
        self._fd: int | None = result_read

    def value(self) -> tuple[bool, Any]:
        """(True, what `read()` returned), or (False, None) if it raised or the child died
        (logged): the caller then reads it itself."""
        if self._fd is None:
            return False, None
        fd, self._fd = self._fd, None
        try:
            received = _receive(fd)
        finally:
            os.waitpid(self.pid, 0)
        if received is None:
            log.warning("the results' read-ahead process died; reading in this one")
            return False, None
        status, value = received
        if status == "error":
            log.warning("the results' read-ahead failed (%s); reading in this one", value)
            return False, None
        return True, value

    def abandon(self) -> None:
        """Kill and reap the child, unless `value` did already."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def _reader(read: Callable[[], Any], result_write: int):
    """`read_ahead`'s child: `read()` on new connections, its value sent back pickled."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # Referenced until os._exit: an inherited connection must never be closed here.
        inherited = [connections[alias] for alias in connections]
        for old in inherited:
            connections[old.alias] = old.copy()
        try:
            outcome: tuple[str, Any] = ("ok", read())
        except Exception as exc:
            outcome = ("error", repr(exc))
        finally:
            for alias in connections:  # this child's own connections
                connections[alias].close()
        try:
            payload = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            payload = pickle.dumps(("error", f"the value could not be sent back: {exc!r}"))
        with os.fdopen(result_write, "wb") as out:
            out.write(payload)
        code = 0
    finally:
        os._exit(code)


def _no_queries(execute, sql, params, many, context):
    raise RuntimeError("a results process forked for computing must not use the database")


def _receive(fd: int):
    """What one child sent (None if it died before sending all of it)."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    try:
        return pickle.loads(data) if data else None
    except Exception:  # cut short: the child was killed while writing
        return None
