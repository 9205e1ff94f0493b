"""Stopping a run cleanly on SIGTERM (what SLURM and other schedulers send before killing) or Ctrl-C (SIGINT).

The first signal is only noted: the training loop finishes its batch, writes a checkpoint and returns. A second
one stops at once (the default behaviour comes back), which loses nothing already written: checkpoints are
written atomically.
"""

from __future__ import annotations

import signal
import threading
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
