"""ABI v2 over HTTP: any JSON value in, the plugin's JSON out; v1 plugins keep the integer
contract side by side."""

from __future__ import annotations

import json

import pytest


async def post_run(client, payload):
    return await client.post("/run", data=json.dumps(payload), headers={"Content-Type": "application/json"})


async def test_v2_plugin_takes_and_returns_json(client, store):
    store.add("rev", "v2_reverse")
    for value, expected in [("stressed", "desserts"), (7, 7), (121, 121)]:
        response = await post_run(client, {"plugin": "rev", "input": value})
        assert response.status == 200, await response.text()
        assert await response.json() == {"output": expected}


async def test_v2_non_json_output_is_a_500(client, store):
    store.add("rev", "v2_reverse")
    response = await post_run(client, {"plugin": "rev", "input": [1, 2]})  # "[1,2]" reversed
    assert response.status == 500
    assert (await response.json())["error"].startswith("failed to execute plugin: ")
    assert "not valid JSON" in (await response.json())["error"]


async def test_v2_error_code_and_message_is_a_422(client, store):
    store.add("refuse", "v2_refuse")
    response = await post_run(client, {"plugin": "refuse", "input": {"any": ["json", 1]}})
    assert response.status == 422
    body = await response.json()
    assert body["code"] == -3 and body["code_name"] == "ABI_ERROR_INVALID_INPUT"
    assert body["error"].endswith("error code -3: ABI_ERROR_INVALID_INPUT: input refused by policy")


async def test_v1_still_takes_only_integers(client, store):
    store.add("rev", "v2_reverse")
    ok = await post_run(client, {"plugin": "hello", "input": 21})
    assert await ok.json() == {"output": 43}
    bad = await post_run(client, {"plugin": "hello", "input": "21"})
    assert bad.status == 400 and (await bad.json())["error"] == "input must be an integer"


async def test_plugins_listing_shows_both_abis(client, store):
    store.add("rev", "v2_reverse")
    listing = await (await client.get("/plugins")).json()
    described = {p["name"]: p for p in (listing["plugins"] if isinstance(listing, dict) else listing)}
    assert described["rev"]["abi_version"] == "v2.0.0"
    assert described["hello"]["abi_version"] in (None, "v1.0.0", "v1 (no get_abi_version)")


@pytest.mark.slow
async def test_sdk_plugin_served_from_the_repo_store(aiohttp_client, built_plugins):
    from server.app import make_app
    from server.settings import Settings

    app = make_app(Settings(plugins=str(built_plugins / "plugins")))
    client = await aiohttp_client(app)
    response = await post_run(client, {"plugin": "json_stats", "input": {"values": [1, 2.5, 3]}})
    assert response.status == 200, await response.text()
    assert (await response.json())["output"]["sum"] == 6.5
    text = await post_run(client, {"plugin": "upper", "input": "shout"})  # JSON text in, JSON text out
    assert text.status == 200 and await text.json() == {"output": "SHOUT"}
    hello = await post_run(client, {"plugin": "hello", "input": 21})
    assert await hello.json() == {"output": 43}
