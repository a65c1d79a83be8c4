"""Shared fixtures: the repo's built plugins and the WAT fixtures (tests/wat) compiled with wabt's
wat2wasm. Helpers that are not fixtures live in tests/support."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from support import REPO, WAT_DIR


def pytest_configure(config) -> None:
    """AOT-compiled test modules go to a throwaway cache, never the user's."""
    os.environ.setdefault("WASMEDGE_PY_CACHE_DIR", tempfile.mkdtemp(prefix="wasmedge-py-test-aot-"))


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `make setup`", pytrace=False)
    return path


@pytest.fixture(scope="session")
def built_plugins() -> Path:
    """The repo root after `make plugins` (cheap when the plugins are up to date)."""
    subprocess.run(["make", "-s", "-C", str(REPO), "plugins"], check=True)
    return REPO


@pytest.fixture(scope="session")
def wat(tmp_path_factory):
    """The one way to compile WAT: ``wat("name")`` -> tests/wat/name.wat compiled to wasm (once per
    session; ``wat("hostile/runaway_loop")`` for a subdirectory), ``wat(source=...)`` for inline
    WAT. A missing wat2wasm fails the test that compiles, not the fixture."""
    out_dir = tmp_path_factory.mktemp("wasm")
    cache: dict[str, Path] = {}

    def compile_wat(name: str | None = None, *, source: str | None = None, check: bool = True) -> Path:
        """``check=False`` keeps modules that wat2wasm would reject as invalid (to test validation)."""
        key = f"{name or source}{check}"
        if key not in cache:
            if source is not None:
                src = out_dir / f"inline{len(cache)}.wat"
                src.write_text(source)
                stem = src.stem
            else:
                src = WAT_DIR / f"{name}.wat"
                stem = f"{name}".replace("/", "-")
            target = out_dir / f"{stem}{'' if check else '-unchecked'}.wasm"
            flags = [] if check else ["--no-check"]
            subprocess.run([_require_tool("wat2wasm"), *flags, str(src), "-o", str(target)], check=True)
            cache[key] = target
        return cache[key]

    return compile_wat


@pytest.fixture(scope="session")
def built_sdk_plugins() -> dict[str, Path]:
    """The test-only SDK plugins, tests/plugins/NAME/NAME.{c,cpp} (built with the Makefile's SDK
    rules, like plugins/): name -> .wasm."""
    plugins = REPO / "tests" / "plugins"
    subprocess.run(["make", "-s", "-C", str(REPO), "plugins", "PLUGINS_DIR=tests/plugins"], check=True)
    return {d.name: d / f"{d.name}.wasm" for d in sorted(plugins.iterdir()) if (d / f"{d.name}.wasm").is_file()}
