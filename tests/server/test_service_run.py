"""POST /run: the original service's HTTP test suite, ported, plus every status this service adds.

Every error is ``{"error": "..."}`` with Content-Type application/json."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from support.hostile import HOSTILE

from wasmedge_py.runtime import I32_MAX, I32_MIN


async def post_run(client, payload, **kwargs):
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return await client.post("/run", data=data, headers={"Content-Type": "application/json"}, **kwargs)


async def error_of(response, status: int) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) >= {"error"} and isinstance(body["error"], str)
    return body["error"]


# -- the original's suite ------------------------------------------------------------------------


async def test_run_hello(client):
    response = await post_run(client, {"plugin": "hello", "input": 21})
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {"output": 43}


@pytest.mark.parametrize("x, expected", [(21, 43), (10, 21), (50, 101), (0, 1)])
async def test_run_hello_values(client, x, expected):
    response = await post_run(client, {"plugin": "hello", "input": x})
    assert (await response.json()) == {"output": expected}


async def test_malformed_json(client):
    assert (await error_of(await post_run(client, b"{not json"), 400)).startswith("invalid JSON: ")


async def test_empty_plugin_name(client):
    assert await error_of(await post_run(client, {"plugin": "", "input": 1}), 400) == "plugin name is required"


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "hello;rm -rf /",
        "a/b",
        "a\\b",
        "hello.wasm",
        "hel lo",
        "..",
        ".",
        "/etc/passwd",
        "hello\x00",
        "\x00",
        "hello\n",
        "x" * 65,
        "héllo",
        "hello/../hello",
    ],
)
async def test_invalid_plugin_names(client, name):
    assert await error_of(await post_run(client, {"plugin": name, "input": 1}), 400) == "invalid plugin name"


async def test_unknown_plugin(client):
    assert await error_of(await post_run(client, {"plugin": "nosuch", "input": 1}), 404) == "plugin not found: nosuch"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods(client, method):
    response = await client.request(method, "/run")
    assert "method not allowed" in await error_of(response, 405)
    assert response.headers["Allow"] == "POST"


# -- request validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "invalid JSON: "),
        (b"\xff\xfe{", "invalid JSON: "),
        ([1, 2], "request body must be a JSON object"),
        ('"hello"', "request body must be a JSON object"),
        ({"input": 1}, "plugin name is required"),
        ({"plugin": None, "input": 1}, "plugin name is required"),
        ({"plugin": 7, "input": 1}, "plugin must be a string"),
        ({"plugin": ["hello"], "input": 1}, "plugin must be a string"),
        ({"plugin": "hello"}, "input is required"),
        ({"plugin": "hello", "input": None}, "input must be an integer"),
        ({"plugin": "hello", "input": True}, "input must be an integer"),
        ({"plugin": "hello", "input": False}, "input must be an integer"),
        ({"plugin": "hello", "input": 1.5}, "input must be an integer"),
        ({"plugin": "hello", "input": 21.0}, "input must be an integer"),
        ({"plugin": "hello", "input": "21"}, "input must be an integer"),
        ({"plugin": "hello", "input": I32_MAX + 1}, "input out of range"),
        ({"plugin": "hello", "input": I32_MIN - 1}, "input out of range"),
        ({"plugin": "hello", "input": 10**60}, "input out of range"),
        ({"plugin": "hello", "input": 10**100}, "invalid JSON: integer of 101 digits"),  # strict JSON
        (b'{"plugin": "hello", "input": NaN}', "invalid JSON: NaN is not a JSON number"),
        (b'{"plugin": "hello", "input": 1' + b"0" * 5000 + b"}", "invalid JSON: "),
    ],
    ids=lambda v: repr(v)[:40] if not isinstance(v, str) else v[:20],
)
async def test_bad_requests(client, payload, message):
    assert (await error_of(await post_run(client, payload), 400)).startswith(message)


async def test_too_deeply_nested_json_is_400(make_client):
    client = await make_client(max_body=1 << 20)
    assert (await error_of(await post_run(client, b"[" * 200_000), 400)).startswith("invalid JSON: ")


@pytest.mark.parametrize("x", [I32_MIN, -1, 0, I32_MAX])
async def test_input_range_edges_are_accepted(client, store, x):
    store.add("echo", "negative_code")  # process(x) = x for x >= 0, -3 below
    response = await post_run(client, {"plugin": "echo", "input": x})
    assert response.status == (200 if x >= 0 else 422)


async def test_extra_fields_are_ignored(client):
    response = await post_run(client, {"plugin": "hello", "input": 1, "comment": "hi"})
    assert await response.json() == {"output": 3}


async def test_name_of_64_characters_is_valid(client, store):
    name = "a-Z_9" * 12 + "abcd"
    assert len(name) == 64
    store.add(name, "hello")
    assert (await (await post_run(client, {"plugin": name, "input": 1})).json()) == {"output": 3}


# -- 413 -----------------------------------------------------------------------------------------


async def test_body_over_limit_is_413_from_content_length(make_client):
    client = await make_client(max_body=100)
    body = json.dumps({"plugin": "hello", "input": 1, "pad": "x" * 200})
    message = await error_of(await post_run(client, body), 413)
    assert "100 bytes" in message


async def test_chunked_body_over_limit_is_413_without_reading_it_whole(make_client):
    client = await make_client(max_body=1024)
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(1024):  # up to 1 MiB, far more than the limit
            sent += 1024
            yield b" " * 1024

    response = await client.post("/run", data=chunks())
    assert "1024 bytes" in await error_of(response, 413)


async def test_expect_continue_is_refused_for_a_body_over_the_limit(make_client):
    """A client that asks before sending (Expect: 100-continue) gets 413 and never sends the body."""
    client = await make_client(max_body=1000)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        b"POST /run HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


async def test_expect_continue_within_the_limit_is_invited(make_client):
    client = await make_client()
    body = json.dumps({"plugin": "hello", "input": 21}).encode()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        b"POST /run HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: %d\r\n"
        b"Expect: 100-continue\r\n\r\n" % len(body)
    )
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
    writer.write(body)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert b"HTTP/1.1 200" in answer and answer.endswith(b'{"output": 43}')


async def test_body_at_limit_is_accepted(make_client):
    body = json.dumps({"plugin": "hello", "input": 1})
    client = await make_client(max_body=len(body))
    assert (await post_run(client, body)).status == 200


# -- 422 and 500: the lifecycle ------------------------------------------------------------------


async def test_negative_code_is_422_naming_code_and_abi_name(client, store):
    store.add("neg", "negative_code")
    response = await post_run(client, {"plugin": "neg", "input": -1})
    message = await error_of(response, 422)
    assert message.startswith("failed to execute plugin: ")
    assert "-3" in message and "ABI_ERROR_INVALID_INPUT" in message
    body = await response.json()
    assert body["code"] == -3 and body["code_name"] == "ABI_ERROR_INVALID_INPUT"


async def test_unnamed_negative_code(client, store):
    store.add("neg", "negative_code")
    response = await post_run(client, {"plugin": "neg", "input": 77})
    body = await response.json()
    assert response.status == 422 and body["code"] == -77 and body["code_name"] == "ABI_ERROR_UNKNOWN"


async def test_trap_is_500_with_wasmedge_message(client, store):
    store.add("trap", "trap")
    message = await error_of(await post_run(client, {"plugin": "trap", "input": 1}), 500)
    assert message.startswith("failed to execute plugin: ")
    assert "out of bounds memory access" in message


async def test_garbage_file_is_500_failed_to_load(client, store):
    store.add("junk", b"this is not wasm")
    message = await error_of(await post_run(client, {"plugin": "junk", "input": 1}), 500)
    assert message.startswith("failed to load plugin: ")
    assert "magic header not detected" in message
    assert str(store.root) not in message  # the server's own layout is not shown to clients


async def test_invalid_module_is_500_failed_to_load(client, store, tmp_path):
    wat = tmp_path / "invalid.wat"
    wat.write_text('(module (func (export "process") (param i32) (result i32) (i64.const 1)))')
    wasm = tmp_path / "invalid.wasm"
    subprocess.run(["wat2wasm", "--no-check", str(wat), "-o", str(wasm)], check=True)
    store.add("invalid", wasm)
    message = await error_of(await post_run(client, {"plugin": "invalid", "input": 1}), 500)
    assert message.startswith("failed to load plugin: ") and "type mismatch" in message


async def test_missing_process_export_is_500(client, store):
    store.add("noproc", "no_process")
    message = await error_of(await post_run(client, {"plugin": "noproc", "input": 1}), 500)
    assert message.startswith("failed to load plugin: ")
    assert "does not export the required function process" in message


async def test_incompatible_abi_version_is_500(client, store):
    store.add("v9", "abi_v9")
    message = await error_of(await post_run(client, {"plugin": "v9", "input": 1}), 500)
    assert message.startswith("failed to load plugin: ") and "v9.0.0" in message


async def test_init_error_code_is_422_failed_to_initialize(client, store):
    """Every plugin error code is 422, whichever step returned it (issue 12)."""
    store.add("badinit", "init_fails")
    response = await post_run(client, {"plugin": "badinit", "input": 1})
    message = await error_of(response, 422)
    assert message.startswith("failed to initialize plugin: ") and "ABI_ERROR_INTERNAL" in message
    assert (await response.json())["code"] == -4


async def test_init_trap_is_500_failed_to_initialize(client, store):
    store.add("inittrap", "init_traps")
    message = await error_of(await post_run(client, {"plugin": "inittrap", "input": 1}), 500)
    assert message.startswith("failed to initialize plugin: ") and "unreachable" in message


@pytest.mark.parametrize("fixture, expected", [("cleanup_fails", 6), ("cleanup_traps", 7)])
async def test_failing_cleanup_is_logged_not_failed(client, store, caplog, fixture, expected):
    store.add("badcleanup", fixture)
    response = await post_run(client, {"plugin": "badcleanup", "input": 5})
    assert response.status == 200 and await response.json() == {"output": expected}
    for _ in range(100):  # the answer is sent before cleanup runs: its warning may follow
        if any("cleanup failed" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("no warning about the failed cleanup")


async def test_bad_manifest_is_500(client, store):
    store.add("badtoml", "hello", manifest="timeout_ms = 'soon'\n")
    message = await error_of(await post_run(client, {"plugin": "badtoml", "input": 1}), 500)
    assert message.startswith("failed to load plugin: ") and "plugin.toml" in message


async def test_each_request_gets_a_fresh_instance(client, store):
    store.add("counter", "counter")
    for x in range(3):  # a shared instance would count 1, 2, 3 (or fail init with -2)
        assert await (await post_run(client, {"plugin": "counter", "input": x})).json() == {"output": x * 1000 + 1}


# -- the hostile plugins (tests/wat/hostile): each ends in its documented status -----------------------


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
async def test_hostile_plugins(make_client, hostile_dir, case):
    client = await make_client(plugins=hostile_dir, timeout_ms=300)
    x = 0 if case.name == "division_by_zero" else 1
    response = await post_run(client, {"plugin": case.name, "input": x})
    message = await error_of(response, case.status)
    step = {"load": "failed to load plugin: ", "execute": "failed to execute plugin: "}[case.step]
    assert message.startswith(step), message
    assert case.message in message
    # ... and the service carries on
    assert (await client.get("/healthz")).status == 200
