"""Child processes that cannot outlive heartbench."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the kernel SIGKILLs the child when its parent dies (runs between fork and exec)."""
    signal_on_parent_death(signal.SIGKILL)


def signal_on_parent_death(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when the process that started it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    except Exception:
        pass
