"""gunicorn settings for the service, so that one scrape of ``/metrics`` reports every worker::

    gunicorn -c python:server.gunicorn_conf 'server.app:make_app()' -w 4 -b 0.0.0.0:8080

prometheus-client's multiprocess mode: every process writes its metric values to files in
``PROMETHEUS_MULTIPROC_DIR`` and whichever worker answers a scrape adds them all up. That variable
must be set before anything imports prometheus_client (with ``--preload`` the app is imported in
the master right after this file is read), so it is set here, when gunicorn reads this file:

- the operator's ``PROMETHEUS_MULTIPROC_DIR`` if set (created if missing), else a new temporary
  directory, removed when gunicorn exits;
- either way emptied at start: counters begin at zero with each server start, as they would in one
  process, instead of adding up the files of an earlier run.

A worker that exits (crash, ``--max-requests``, reload) keeps its counters in the sum; its live
gauges (in flight, queue depth, ...) are dropped (``child_exit``).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The master that prepared the directory: gunicorn reads a config file again on SIGHUP (reload),
# when the directory must be kept as it is.
_PREPARED_BY_ENV = "_WASMEDGE_PY_METRICS_PREPARED_BY"

# aiohttp's worker on uvloop when it is installed, as python -m server's --event-loop default
# (README "Performance"); a -k on the command line wins.
worker_class = (
    "aiohttp.GunicornUVLoopWebWorker" if importlib.util.find_spec("uvloop") is not None else "aiohttp.GunicornWebWorker"
)


def prepare_metrics_dir() -> Path:
    """The multiprocess directory for this server start, empty, and named in the environment
    (which the workers inherit)."""
    given = os.environ.get(MULTIPROC_DIR_ENV)
    if os.environ.get(_PREPARED_BY_ENV) == str(os.getpid()) and given:
        return Path(given)  # a reload: the workers' files are still in use
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="wasmedge-py-metrics-"))
        os.environ[MULTIPROC_DIR_ENV] = str(directory)
        # atexit rather than gunicorn's on_exit: it also runs when the app fails to load.
        atexit.register(_remove_temporary_dir, directory, os.getpid())
    os.environ[_PREPARED_BY_ENV] = str(os.getpid())
    return directory


def _remove_temporary_dir(directory: Path, master: int) -> None:
    """At the master's exit (a worker that runs atexit handlers must leave it alone)."""
    if os.getpid() == master:
        shutil.rmtree(directory, ignore_errors=True)


def when_ready(server: Any) -> None:
    """gunicorn hook, in the master: say where the metrics are (before the workers start)."""
    server.log.info(
        "metrics of every worker in %s (prometheus-client multiprocess mode)", os.environ[MULTIPROC_DIR_ENV]
    )


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the master: a worker is gone, so are its live gauges."""
    from prometheus_client import multiprocess  # not at the top: only once the variable is set

    multiprocess.mark_process_dead(worker.pid)


prepare_metrics_dir()
