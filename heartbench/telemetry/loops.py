"""Every asyncio event loop the process creates, so pending tasks can be summed over all of them.

`asyncio.all_tasks()` only sees one loop, and a leaked loop (kept at module level, or running in a
background thread) is exactly the one nobody asks about. On install we wrap
`asyncio.BaseEventLoop.__init__` (every selector and proactor loop runs it) to add each new loop to a
weak set, and we sweep the gc heap once for loops created before the install. The set holds weak
references only, so measuring never keeps a loop alive. A loop class that does not derive from
asyncio.BaseEventLoop (uvloop's) is only found if it exists when tracking starts.

Thread safety: loops may be created in any thread while another thread counts, so additions and
snapshots of the set take a lock; a loop collected meanwhile drops out of the weak set by itself.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

_loops: "weakref.WeakSet[asyncio.AbstractEventLoop]" = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def _track(loop: asyncio.AbstractEventLoop) -> None:
    with _lock:
        _loops.add(loop)


def install() -> None:
    """Start tracking loops (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    original_init = asyncio.BaseEventLoop.__init__

    def tracking_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        _track(self)

    tracking_init.__wrapped__ = original_init
    asyncio.BaseEventLoop.__init__ = tracking_init
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop):
            _track(obj)


def live_loops() -> list[asyncio.AbstractEventLoop]:
    """Tracked loops that are not closed."""
    with _lock:
        loops = list(_loops)
    return [loop for loop in loops if not loop.is_closed()]


def pending_tasks() -> int:
    """Tasks not yet done, summed over every live loop the process created."""
    return sum(_pending_on(loop) for loop in live_loops())


def _pending_on(loop: asyncio.AbstractEventLoop) -> int:
    # asyncio.all_tasks(loop) filters out done tasks and retries if another thread changes the
    # global task set while it copies it.
    return len(asyncio.all_tasks(loop))
