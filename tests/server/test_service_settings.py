"""Options: flags over environment variables over defaults, and the original's PLUGIN_STORE switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.__main__ import build_parser, parse_settings
from server.settings import OPTIONS, Settings, default_workers


def test_defaults():
    settings = parse_settings([], environ={})
    assert settings == Settings(workers=default_workers())
    assert (settings.host, settings.port, settings.plugins) == ("127.0.0.1", 8080, Path("plugins"))
    assert settings.max_body == 64 * 1024 and settings.store_kind == "local"


def test_environment_sets_every_option(tmp_path):
    (tmp_path / "plugins.lock").write_text("version = 1\n")
    (tmp_path / "token").write_text("a-token-of-16-chars-or-more\n")
    environ = {
        "WASMEDGE_PY_HOST": "0.0.0.0",
        "WASMEDGE_PY_PORT": "9000",
        "WASMEDGE_PY_PLUGINS": "/srv/plugins",
        "WASMEDGE_PY_WORKERS": "3",
        "WASMEDGE_PY_QUEUE": "7",
        "WASMEDGE_PY_MAX_BODY": "1000",
        "WASMEDGE_PY_TIMEOUT_MS": "250",
        "WASMEDGE_PY_GRACE": "1.5",
        "WASMEDGE_PY_LOG_LEVEL": "debug",
        "WASMEDGE_PY_PLUGIN_CONCURRENCY": "2",
        "WASMEDGE_PY_PLUGIN_QUEUE": "0",
        "WASMEDGE_PY_ALLOW_UNLIMITED_TIMEOUT": "yes",
        "WASMEDGE_PY_WARM": "on",
        "WASMEDGE_PY_MAX_PLUGIN_BYTES": "5000",
        "WASMEDGE_PY_MAX_MANIFEST_BYTES": "500",
        "WASMEDGE_PY_STORE_THREADS": "2",
        "WASMEDGE_PY_LOCK": str(tmp_path / "plugins.lock"),
        "WASMEDGE_PY_PUBLISH": "1",
        "WASMEDGE_PY_TOKEN_FILE": str(tmp_path / "token"),
        "WASMEDGE_PY_REQUIRE_TOKEN": "run",
        "WASMEDGE_PY_EVENT_LOOP": "asyncio",
    }
    settings = parse_settings([], environ=environ)
    assert settings == Settings(
        host="0.0.0.0",
        port=9000,
        plugins=Path("/srv/plugins"),
        workers=3,
        queue=7,
        max_body=1000,
        timeout_ms=250,
        grace=1.5,
        log_level="DEBUG",
        plugin_concurrency=2,
        plugin_queue=0,
        allow_unlimited_timeout=True,
        warm=True,
        max_plugin_bytes=5000,
        max_manifest_bytes=500,
        store_threads=2,
        lock=tmp_path / "plugins.lock",
        publish=True,
        token_file=tmp_path / "token",
        require_token=("run",),
        token="a-token-of-16-chars-or-more",
        event_loop="asyncio",
    )
    assert {o.env for o in OPTIONS} == set(environ)


def test_event_loop_is_uvloop_when_installed():
    assert parse_settings([], environ={}).event_loop == "uvloop"  # uvloop is in the test extra
    assert parse_settings(["--event-loop", "asyncio"], environ={}).event_loop == "asyncio"
    assert parse_settings([], environ={"WASMEDGE_PY_EVENT_LOOP": "UVLoop"}).event_loop == "uvloop"


def test_flags_win_over_environment():
    environ = {"WASMEDGE_PY_PORT": "9000", "WASMEDGE_PY_WORKERS": "3", "WASMEDGE_PY_PLUGINS": "/env"}
    settings = parse_settings(["--port", "9001", "--workers", "5", "--plugins", "flag"], environ=environ)
    assert (settings.port, settings.workers, settings.plugins) == (9001, 5, Path("flag"))


def test_allow_unlimited_timeout_is_a_flag_without_a_value():
    assert parse_settings([], environ={}).allow_unlimited_timeout is False
    assert parse_settings(["--allow-unlimited-timeout"], environ={}).allow_unlimited_timeout is True
    off = {"WASMEDGE_PY_ALLOW_UNLIMITED_TIMEOUT": "0"}
    assert parse_settings([], environ=off).allow_unlimited_timeout is False
    assert parse_settings(["--allow-unlimited-timeout"], environ=off).allow_unlimited_timeout is True


def test_fluid_store_switch():
    fluid = parse_settings([], environ={"PLUGIN_STORE": "fluid"})
    assert (fluid.plugins, fluid.store_kind) == (Path("/mnt/fluid/plugins"), "fluid")
    mounted = parse_settings([], environ={"PLUGIN_STORE": "fluid", "FLUID_MOUNT_PATH": "/data/p"})
    assert mounted.plugins == Path("/data/p")
    explicit = parse_settings(["--plugins", "mine"], environ={"PLUGIN_STORE": "fluid"})
    assert (explicit.plugins, explicit.store_kind) == (Path("mine"), "local")
    assert parse_settings([], environ={"PLUGIN_STORE": "local"}).plugins == Path("plugins")


@pytest.mark.parametrize(
    "argv, environ, message",
    [
        (["--port", "70000"], {}, "--port"),
        (["--workers", "0"], {}, "--workers"),
        (["--timeout-ms", "soon"], {}, "--timeout-ms"),
        ([], {"WASMEDGE_PY_PORT": "http"}, "WASMEDGE_PY_PORT"),
        ([], {"WASMEDGE_PY_LOG_LEVEL": "loud"}, "WASMEDGE_PY_LOG_LEVEL"),
        (["--plugin-concurrency", "0"], {}, "--plugin-concurrency"),
        ([], {"WASMEDGE_PY_ALLOW_UNLIMITED_TIMEOUT": "maybe"}, "WASMEDGE_PY_ALLOW_UNLIMITED_TIMEOUT"),
        ([], {"PLUGIN_STORE": "s3"}, "PLUGIN_STORE"),
        (["--event-loop", "trio"], {}, "--event-loop"),
    ],
)
def test_bad_values_exit_2_naming_the_option(capsys, argv, environ, message):
    with pytest.raises(SystemExit) as exited:
        parse_settings(argv, environ=environ)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_help_documents_every_flag_with_its_environment_variable():
    text = build_parser().format_help()
    for option in OPTIONS:
        assert option.flag in text and option.env in text
    assert "PLUGIN_STORE" in text and "FLUID_MOUNT_PATH" in text
