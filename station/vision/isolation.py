"""Native decoders (zbar, zxing-cpp, OCR engines) run in worker processes that may die.

A C library can abort (zbar's QR text decoder asserts on some contents) or segfault on a
hostile photograph; in-process that kills a check, a batch or the server. Each decoder call
here is sent to one of a few long-lived worker processes (started with the pool, the native
modules imported once per worker). A call that raises
or whose worker dies or hangs costs only that call: the caller gets a ``DecoderFailed`` note
and the worker is replaced before its next use. Workers are started once and reused, so the
hot path pays an image copy through a pipe (a few milliseconds), never a process start.

Functions sent to a worker must be importable module-level functions (pickled by name).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: modules every worker imports when it starts, before its first job
PRELOAD = ("numpy", "cv2", "zxingcpp", "station.vision.barcodes", "station.vision.second_look")


@dataclass(frozen=True)
class DecoderFailed:
    """Why one decoder produced no reading for one frame (shown to the operator as a note)."""

    decoder: str
    reason: str

    def note(self) -> str:
        return f"{self.decoder} failed on this frame ({self.reason}); its reading is missing"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """A decoder's value, or why there is none."""

    value: T | None = None
    failure: DecoderFailed | None = None

    def value_or(self, default: T) -> T:
        return default if self.value is None else self.value


def _serve(conn: Connection) -> None:
    """Worker loop: run each (function, args) received, answer ("ok", value) or ("error", text)."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            answer: tuple[str, Any] = ("ok", fn(*args))
        except Exception as exc:  # the decoder's own error: report it, keep serving
            answer = ("error", f"{type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(answer)
        except Exception as exc:  # e.g. an unpicklable result
            conn.send(("error", f"result could not be returned: {type(exc).__name__}: {exc}"))


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "worker did not exit"
    if code < 0:
        try:
            return f"worker killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with status {code}"


class _Worker:
    """One worker process and the socket to it; used by one caller at a time.

    The worker is a fresh interpreter (``python -m station.vision.isolation FD``), not a
    multiprocessing child: it never re-runs the caller's main script, so any program (a
    benchmark, a notebook, the server) can use the pool without a ``__main__`` guard.
    """

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        env.setdefault("OMP_THREAD_LIMIT", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "station.vision.isolation", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # Ctrl-C at a terminal is the parent's to handle
        )
        theirs.close()
        self.conn = Connection(ours.detach())

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        """The function's value; raises _WorkerLost when the process died or hung."""
        try:
            self.conn.send((fn, args))
            ready = self.conn.poll(timeout)
            if not ready:
                self.kill()
                raise _WorkerLost(f"no answer within {timeout:.0f} s; worker stopped")
            status, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            try:
                code: int | None = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            raise _WorkerLost(_exit_reason(code)) from exc
        if status == "error":
            raise _DecoderError(str(value))
        return value

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone: nothing to tell it
            self.conn.send(None)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2)
        self.kill()


class _WorkerLost(Exception):
    """The worker process died or hung during a call."""


class _DecoderError(Exception):
    """The decoder raised inside the worker."""


class DecoderPool:
    """A few reusable decoder worker processes; ``run`` never raises for a decoder's fault.

    Thread-safe: each call borrows an idle worker (waiting for one if all are busy).
    A dead or hung worker is replaced lazily, by the next call that needs it.
    """

    def __init__(self, workers: int = 2, timeout: float = 20.0) -> None:
        if workers < 1:
            raise ValueError("a decoder pool needs at least one worker")
        self.timeout = timeout
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(_Worker())  # starting: imports run while the caller loads images
        self._size = workers
        self._closed = False
        #: worker processes replaced after a crash or hang (for tests and the doctor)
        self.restarts = 0
        self._lock = threading.Lock()

    def run(
        self, decoder: str, fn: Callable[..., T], *args: Any, timeout: float | None = None
    ) -> Outcome[T]:
        """``fn(*args)`` in a worker: its value, or a DecoderFailed naming ``decoder``."""
        if self._closed:
            raise RuntimeError("decoder pool is closed")
        worker = self._idle.get()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.kill()
                    with self._lock:
                        self.restarts += 1
                try:
                    worker = _Worker()
                except OSError as exc:  # no process could be started (limits, memory)
                    worker = None
                    return Outcome(failure=DecoderFailed(decoder, f"no worker: {exc}"))
            try:
                return Outcome(value=worker.call(fn, args, timeout or self.timeout))
            except _DecoderError as exc:
                return Outcome(failure=DecoderFailed(decoder, f"raised {exc}"))
            except _WorkerLost as exc:
                worker.kill()
                worker = None  # replaced on next use
                with self._lock:
                    self.restarts += 1
                return Outcome(failure=DecoderFailed(decoder, str(exc)))
        finally:
            self._idle.put(worker)

    def warm_up(self) -> None:
        """Replace any dead worker and wait until every worker answers (imports done)."""
        taken = [self._idle.get() for _ in range(self._size)]
        ready: list[_Worker] = []
        try:
            for w in taken:
                ready.append(w if w is not None and w.alive() else _Worker())
            for w in ready:
                w.call(len, ((),), self.timeout)
        finally:
            for w in ready:
                self._idle.put(w)
            for _ in range(len(taken) - len(ready)):
                self._idle.put(None)

    def close(self) -> None:
        """Stop all workers (idle ones at once; this waits for busy ones to come back)."""
        if self._closed:
            return
        self._closed = True
        for _ in range(self._size):
            w = self._idle.get()
            if w is not None:
                w.close()


class InProcess:
    """The same interface without isolation: exceptions are caught, crashes are not."""

    restarts = 0

    def run(
        self, decoder: str, fn: Callable[..., T], *args: Any, timeout: float | None = None
    ) -> Outcome[T]:
        try:
            return Outcome(value=fn(*args))
        except Exception as exc:
            return Outcome(failure=DecoderFailed(decoder, f"raised {type(exc).__name__}: {exc}"))


DecoderRunner = DecoderPool | InProcess

_shared: DecoderPool | None = None
_shared_lock = threading.Lock()


def shared_pool(workers: int = 2, timeout: float = 20.0) -> DecoderPool:
    """The process-wide pool (created on first use, closed at exit); the first caller's
    size and time-out hold for the life of the process."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closed:
            _shared = DecoderPool(workers=workers, timeout=timeout)
            atexit.register(_shared.close)
        return _shared


def runner_for(isolate: bool, workers: int = 2, timeout: float = 20.0) -> DecoderRunner:
    """The shared pool when isolation is on (the default), else in-process calls."""
    if not isolate:
        return InProcess()
    return shared_pool(workers, timeout)


Job = tuple[str, Callable[..., Any], tuple[Any, ...]]


def run_all(runner: DecoderRunner, jobs: list[Job]) -> list[Outcome[Any]]:
    """Several decoder calls at once (threads only wait on pipes), outcomes in job order."""
    if len(jobs) <= 1:
        return [runner.run(name, fn, *args) for name, fn, args in jobs]
    results: list[Outcome[Any] | None] = [None] * len(jobs)

    def one(i: int) -> None:
        name, fn, args = jobs[i]
        results[i] = runner.run(name, fn, *args)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(1, len(jobs))]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    return [
        r if r is not None else Outcome(failure=DecoderFailed(j[0], "lost"))
        for r, j in zip(results, jobs, strict=True)
    ]


def _worker_main(fd: int) -> None:
    """Entry point of a worker process: preload the decoders, then serve until told to stop."""
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve(Connection(fd))


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]))
