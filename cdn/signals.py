"""Stopping a server cleanly on SIGINT or SIGTERM.

Install the handlers before binding and before printing the banner: a script
that waits for the banner and then sends SIGTERM must get a clean stop, never
the default handler's abrupt exit or a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_event() -> asyncio.Event:
    """An event that SIGINT and SIGTERM set (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(sig, stop.set)
    return stop
