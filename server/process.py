"""Process-wide settings, made once by an entry point (``python -m server``, or the app factory
gunicorn's worker calls) and never by building an app: stdio isolation, logging, and the GIL
switch interval."""

from __future__ import annotations

import logging
import sys

from .settings import Settings
from .stdio import isolate_stdio

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Every native call of a plugin run releases the GIL and must win it back from the event loop
# thread; under load CPython's default 5 ms switch interval makes that wait long (README,
# "Performance").
SWITCH_INTERVAL = 0.0005  # seconds


def prepare_process(settings: Settings) -> None:
    """Make this process a serving process: plugin stdio away from the real stdout/stderr (see
    server/stdio.py; before logging is set up, so our log lines keep the real stderr), log lines
    at ``settings.log_level``, and a short GIL switch interval."""
    isolate_stdio()
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    sys.setswitchinterval(SWITCH_INTERVAL)
