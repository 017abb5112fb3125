"""Work the grading process starts on a thread of its own, to be waited for later: while
a student's checks run it mostly waits for the worker, and a core is idle. What is made
ahead must be what the waiting code would make itself (pure functions of their
arguments; numpy and torch release the GIL in their large operations)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable


def soon(fn: Callable[..., Any], *args: Any, name: str) -> Future:
    """`fn(*args)` on a new daemon thread; its Future."""
    future: Future = Future()
    threading.Thread(target=_fill, args=(future, fn, *args), daemon=True, name=name).start()
    return future


def _fill(future: Future, fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` and put its result, or what it raised, in `future`."""
    try:
        future.set_result(fn(*args))
    except BaseException as exc:  # noqa: BLE001 - raised again where the result is waited for
        future.set_exception(exc)
