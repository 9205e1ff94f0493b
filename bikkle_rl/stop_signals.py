"""Stopping a run cleanly on SIGTERM (what SLURM and other schedulers send before killing) or Ctrl-C (SIGINT).

The first signal is only noted: the training loop finishes its batch, writes a checkpoint and returns. A second
one stops at once (the default behaviour comes back), which loses nothing already written: checkpoints are
written atomically. A pool worker started with :func:`stop_with_parent` (every worker of a :func:`run_pool`) gets
the same signal when the process that started it is gone, so a benchmark killed by its pid does not leave its runs
training on as orphans.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from types import FrameType

from typing_extensions import Self

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Notes a stop signal while active (a context manager); ``received`` names the first one, else None.

    Examples:
        >>> with StopRequest() as stop:
        ...     for batch in collector:
        ...         update(batch)
        ...         if stop.received:
        ...             save_checkpoint()
        ...             break
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        self.signals = signals
        self.received: str | None = None
        self.previous: dict[signal.Signals, object] = {}

    def handle(self, number: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(number).name
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self.previous = {sig: signal.signal(sig, self.handle) for sig in self.signals}
        return self

    def __exit__(self, *exc_info) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


def stop_with_parent(parent_pid: int, poll_seconds: float = 5.0, grace_seconds: float = 300.0) -> None:
    """Sends this process SIGTERM once ``parent_pid`` is no longer its parent (checked every ``poll_seconds`` by a
    daemon thread), and again ``grace_seconds`` later. Meant as a ``ProcessPoolExecutor`` worker's ``initializer``
    with the pool owner's pid: when the owner is killed, a training run in the worker checkpoints and returns
    (:class:`StopRequest`) instead of training on, unwatched, into folders a rerun will use; the second signal ends
    the worker itself, which would otherwise wait forever for tasks from a pool that is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="stop-with-parent", daemon=True).start()


def run_pool(jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` spawned worker processes (each run in a fresh interpreter: no state shared with the owner)
    that stop with this process (:func:`stop_with_parent`): the benchmarks' pool for training runs."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=stop_with_parent,
                               initargs=(os.getpid(),))
