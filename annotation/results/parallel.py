"""Computing the parts of a refresh on several cores, in forked processes.

Every result after the snapshot is a pure function of the frozen `StudyData`, so the parts
(`Part`: a whole result, or one piece of a result split with `Split`) can run anywhere
the snapshot is in memory. `run` forks `processes - 1` children after the snapshot was
read; the children inherit it (copy-on-write: nothing is sent to them) and the parent
works too. Each process takes the next part from a queue in the order given (costliest
first, so the last parts to start are short ones), and a child sends back the values of
the parts it ran (pickled; results are plain dicts and lists, cheap to send).

Safe where the app runs it (the background worker, gunicorn's sync workers, commands):

- Children never use the database: the parent's connections are inherited, and a
  child that ran a query would share the parent's socket or SQLite handle, so every
  query in a child raises (an execute wrapper), and a child leaves with `os._exit`,
  never closing what it inherited.
- It forks only from a process with no other thread (another thread might hold a lock
  the child would wait on forever) and only where `os.fork` exists; otherwise, and with
  `RESULTS_PROCESSES = 1`, the parts run one after another here, as they always did.
- No process is left behind: the parent reaps every child before it returns, and kills
  and reaps them before it raises; a child whose parent died finishes its parts
  (seconds), finds the pipe closed, and exits. A part that raises raises in the parent (the first in the given order), as it
  would serially; a part a child did not send back (the child died) runs in the parent.

The values are the same, to the last bit, whatever the number of processes: each part
computes the same thing from the same snapshot with its own seed.
"""

from __future__ import annotations

import contextlib
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


def run(
    parts: Sequence[Part], *, processes: int = 1, timings: dict[str, Timing] | None = None
) -> list:
    """The values of `parts`, in their order, computed by `processes` processes (this one
    and forked children); serially here when `processes` is 1 or forking is not safe (see
    the module docstring). How long each part took goes into `timings` (by name)."""
    workers = min(processes, len(parts))
    if workers <= 1 or len(parts) > MAX_PARTS or not can_fork():
        return [_unwrap(_attempt(part, timings)) for part in parts]
    return _run_forked(parts, workers, timings)


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


def _run_forked(parts: Sequence[Part], workers: int, timings: dict[str, Timing] | None) -> list:
    queue_read, queue_write = os.pipe()
    try:
        os.write(queue_write, b"".join(i.to_bytes(_RECORD, "little") for i in range(len(parts))))
    finally:
        os.close(queue_write)  # a read past the last part gets b"": the queue is empty
    children: dict[int, int | None] = {}  # pid -> read end of its result pipe, until read
    outcomes: dict[int, tuple[str, Any]] = {}
    finished = False
    try:
        for _ in range(workers - 1):
            result_read, result_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(result_read)
                _child(parts, queue_read, result_write, [fd for fd in children.values() if fd])
            os.close(result_write)
            children[pid] = result_read
        outcomes.update(_take_parts(parts, queue_read, timings))
        for pid, result_read in children.items():
            children[pid] = None  # closed by _receive, whatever happens there
            received = _receive(result_read)
            if received is not None:
                child_outcomes, child_timings = received
                outcomes.update(child_outcomes)
                if timings is not None:
                    timings.update(child_timings)
        finished = True
    finally:
        os.close(queue_read)
        _reap(children, kill=not finished)
    # A part no child sent back (a child was killed) runs here.
    missing = [i for i in range(len(parts)) if i not in outcomes]
    for i in missing:
        outcomes[i] = _attempt(parts[i], timings)
    return [_unwrap(outcomes[i]) for i in range(len(parts))]


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


def _reap(children: dict[int, int | None], *, kill: bool) -> None:
    """Wait for every child, after closing the result pipes not read yet; `kill`: stop
    them first (this process is raising: their values would be thrown away)."""
    for pid, fd in children.items():
        if fd is not None:
            os.close(fd)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
