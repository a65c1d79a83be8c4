"""Fixtures for the parity tests: the same module, function and arguments go through the real
``wasmedge`` CLI, through ``wasmedge-py run`` and through the Python binding, and must print the
same lines.

A missing tool (``wasmedge``, ``wat2wasm``) FAILS every test that needs it, inside the test, with
a message saying what to do; these tests never skip.
"""

from __future__ import annotations

import pytest
from support.parity import Binding, Tool


@pytest.fixture(scope="session")
def wasmedge_cli() -> Tool:
    return Tool("wasmedge", "wasmedge CLI")


@pytest.fixture(scope="session")
def binding():
    calls = Binding()
    yield calls
    calls.close()
