"""A worker's tie to the `portability` process that started it.

Workers run in their own session (so a terminal's Ctrl-C reaches only the parent, which
forwards it once), so nothing would stop them when the parent dies. :func:`install` makes a
worker stop as if interrupted when its parent goes away, however it went: SIGKILL, a crash,
a closed CI job. The worker then tears its test databases down as after a Ctrl-C.

Three ties, each enough alone:

* ``PR_SET_PDEATHSIG`` (Linux): the kernel sends SIGTERM when the parent dies. It is set in
  the worker itself, not in a ``preexec_fn`` (unsafe in a parent with threads); the parent
  forks from its main thread, which lives as long as the parent does.
* The parent's pid, passed in ``PORTABILITY_PARENT_PID``: a worker whose parent died before
  the death signal was set (or on another OS) notices it at once, and a watcher thread
  polls it every half second.
* SIGTERM and SIGINT stop the worker like Ctrl-C (KeyboardInterrupt: pytest tears down);
  any later one is ignored while the worker cleans up, so cleaning up is never cut short.
  The parent's second Ctrl-C sends SIGKILL, which nothing can ignore.

A pytest-xdist worker is tied the same way to its controller (the controller's pid comes in
xdist's ``workerinput``): when the controller goes, its xdist workers stop and clean up too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from typing import Any

ENV_PARENT_PID = "PORTABILITY_PARENT_PID"
PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


class _State:
    stopping = False
    # Set once teardown runs: a stop signal then only notes itself.
    cleaning_up = False
    parent_pid: int | None = None
    reason = ""


STATE = _State()


def parent_pid_from_env() -> int | None:
    value = os.environ.get(ENV_PARENT_PID, "")
    return int(value) if value.isdigit() else None


def install(parent: int | None = None) -> bool:
    """Tie this process to ``parent`` (an xdist worker: its controller), else to the parent named in the
    environment; False when there is none."""
    parent = parent or parent_pid_from_env()
    # Not inherited: a process the tests start (an xdist worker, a nested pytest) has another parent.
    os.environ.pop(ENV_PARENT_PID, None)
    if parent is None or threading.current_thread() is not threading.main_thread():
        return False
    STATE.parent_pid = parent
    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGINT, _on_stop_signal)
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:
        _parent_gone()
    threading.Thread(target=_watch_parent, name="portability-lifeline", daemon=True).start()
    return True


def entering_cleanup() -> None:
    """From now on a stop signal must not interrupt: the worker is dropping its test databases."""
    STATE.cleaning_up = True


def _on_stop_signal(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    if STATE.stopping or STATE.cleaning_up:
        _say(f"portability: {name} while stopping: ignored until the test databases are dropped")
        return
    STATE.stopping = True
    STATE.reason = STATE.reason or f"{name} received"
    raise KeyboardInterrupt(f"portability: {STATE.reason}")


def _parent_gone() -> None:
    if not STATE.stopping:
        STATE.reason = f"the portability process (pid {STATE.parent_pid}) is gone"
        _say(f"portability: {STATE.reason}: stopping and dropping the test databases")
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent() -> None:
    event = threading.Event()
    while not event.wait(WATCH_SECONDS):
        if os.getppid() != STATE.parent_pid:
            _parent_gone()
            return


def _set_parent_death_signal(signum: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        # find_library runs ldconfig in a subprocess (~40 ms per worker): glibc's soname first.
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watcher thread still ties the worker to its parent


def _say(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a reentrant write from a signal handler
        pass
