"""Progress lines for long work: throttled so CI logs stay readable, in place on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ThrottledConsole:
    """At most one status line per `interval` seconds; the final line always shows."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._clock = clock
        self._started: float | None = None
        self._last_shown = float("-inf")

    def start(self) -> None:
        """Start the elapsed-time clock now rather than at the first update."""
        self._started = self._clock()

    def due(self, finished: bool) -> float | None:
        """Seconds since the start when a line should be written now, else None."""
        now = self._clock()
        if self._started is None:
            self._started = now
        if not finished and now - self._last_shown < self._interval:
            return None
        self._last_shown = now
        return now - self._started

    def emit(self, line: str, *, final: bool) -> None:
        if self._stream.isatty():
            self._stream.write(f"\r\x1b[K{line}" + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def warn(self, message: str) -> None:
        self._stream.write(f"cinemart: warning: {message}\n")
        self._stream.flush()


Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    """The default `Progress` of the training functions: dbt shows a Python model's stdout in its log."""
    print(message, flush=True)
