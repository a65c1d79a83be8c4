"""Helpers shared by the test modules (no test module imports another): the repo's paths and the
WAT fixture tree. ``support.hostile`` holds the hostile plugins' expectations, ``support.server``
the helpers for tests that run a real server process, ``support.parity`` the parity runs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WAT_DIR = REPO / "tests" / "wat"  # every WAT fixture: NAME.wat, hostile/NAME.wat, fuzz/NAME.wat
