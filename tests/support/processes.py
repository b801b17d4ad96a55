"""Free ports, waiting until something answers, and stopping a process: written once.

The code lives in the package (``exam_pipeline.course.servers``), because ``make lab`` and the
screenshot script start and stop servers the same way; the tests import it from here, with
:func:`still_alive` for checking that nothing is left behind.
"""

from __future__ import annotations

import psutil

from exam_pipeline.course.servers import NEW_GROUP, answers, free_port, log_tail, stop, wait_until

__all__ = ["NEW_GROUP", "answers", "free_port", "log_tail", "stop", "still_alive", "wait_until"]


def still_alive(pids: set[int], timeout: float = 20.0) -> set[int]:
    """The PIDs among ``pids`` that have not exited after waiting up to ``timeout`` seconds."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return {p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
