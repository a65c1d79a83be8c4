"""Strict JSON both ways (issue 12): a request with a non-finite number, an over-long integer or
an over-deep input is 400; plugin output that is not RFC 8259 JSON is 500; and every answer
parses with a strict parser."""

from __future__ import annotations

import json

import pytest

from wasmedge_py.strict_json import MAX_DEPTH, MAX_INT_DIGITS


def strict(text: str):
    """json.loads that refuses what RFC 8259 does not allow (NaN, Infinity, -Infinity)."""

    def refuse(name: str):
        raise ValueError(f"{name} in a response body")

    return json.loads(text, parse_constant=refuse)


async def run(client, body: bytes) -> tuple[int, dict]:
    response = await client.post("/run", data=body, headers={"Content-Type": "application/json"})
    return response.status, strict(await response.text())


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "input_text",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        "1" + "0" * MAX_INT_DIGITS,
        "1" + "0" * 5000,
        nested(MAX_DEPTH + 1),
        nested(100_000),
    ],
    ids=lambda text: text[:12] + (f"..({len(text)})" if len(text) > 12 else ""),
)
@pytest.mark.parametrize("plugin", ["unquote", "hello"])
async def test_request_outside_strict_json_is_400(make_client, store, plugin, input_text):
    store.add("unquote", "v2_unquote")
    client = await make_client(max_body=1 << 20)
    status, body = await run(client, f'{{"plugin": "{plugin}", "input": {input_text}}}'.encode())
    assert status == 400, body
    assert body["error"].startswith("invalid JSON: "), body


@pytest.mark.parametrize(
    "output_text",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "[1, NaN]",
        "1" + "0" * MAX_INT_DIGITS,
        "1" + "0" * 5000,
        nested(MAX_DEPTH + 1),
        nested(100_000),
    ],
    ids=lambda text: text[:12] + (f"..({len(text)})" if len(text) > 12 else ""),
)
async def test_plugin_output_outside_strict_json_is_500(make_client, store, output_text):
    """v2_unquote answers with its input string's text, unquoted: here, what a strict parser refuses."""
    store.add("unquote", "v2_unquote")
    client = await make_client(max_body=1 << 20)
    status, body = await run(client, json.dumps({"plugin": "unquote", "input": output_text}).encode())
    assert status == 500, body
    assert body["error"].startswith(
        "failed to execute plugin: plugin unquote/unquote.wasm returned output that is not valid JSON: "
    ), body
    assert (await (await client.get("/healthz")).json())["status"] == "ok"


async def test_values_at_the_limits_pass_both_ways(client, store):
    store.add("unquote", "v2_unquote")
    largest = "9" * MAX_INT_DIGITS
    deepest = nested(MAX_DEPTH)
    for output_text, expected in [
        (largest, int(largest)),
        (f"-{largest}", -int(largest)),
        (deepest, json.loads(deepest)),
        ("1.5e300", 1.5e300),
    ]:
        status, body = await run(client, json.dumps({"plugin": "unquote", "input": output_text}).encode())
        assert (status, body) == (200, {"output": expected})
    # as input: the deepest array allowed goes in (and comes back with its outer brackets cut off)
    status, body = await run(client, f'{{"plugin": "unquote", "input": {deepest}}}'.encode())
    assert (status, body) == (200, {"output": json.loads(nested(MAX_DEPTH - 1))})
