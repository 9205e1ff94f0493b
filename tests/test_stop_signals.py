"""Stop signals: a pool worker whose parent is gone is told to stop, as a killed scheduler's job would be."""

import multiprocessing
import os
import signal
import time

from bikkle_rl.stop_signals import StopRequest, stop_with_parent


def wait_for_stop(parent_pid: int, seconds: float, results) -> None:
    """A worker: watches ``parent_pid``, waits up to ``seconds`` for a stop signal and reports which came; after a
    stop it idles, as a pool worker waits for its next task."""
    with StopRequest() as stop:  # noting signals before the watch starts: a parent already gone signals at once
        stop_with_parent(parent_pid, poll_seconds=0.02, grace_seconds=0.5)
        deadline = time.monotonic() + seconds
        while stop.received is None and time.monotonic() < deadline:
            time.sleep(0.01)
    results.put(stop.received)
    if stop.received:
        time.sleep(60)


def test_a_worker_is_stopped_once_its_parent_is_gone_and_not_before():
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    watching, orphan = (context.Process(target=wait_for_stop, args=(parent, seconds, results))
                        for parent, seconds in ((os.getpid(), 1.0), (-1, 30.0)))  # -1: a parent it never had
    for worker in (watching, orphan):
        worker.start()
    received = sorted(str(results.get(timeout=60)) for _ in range(2))
    for worker in (watching, orphan):
        worker.join(timeout=30)
    assert received == ["None", "SIGTERM"]
    assert watching.exitcode == 0
    assert orphan.exitcode == -signal.SIGTERM  # the second signal ended the idle worker well before its 60 s
