"""Operations endpoints: /healthz, /plugins, /metrics (a registry per app), logging."""

from __future__ import annotations

import logging

from support.server import metric_samples, settings_for

from server.app import make_app


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status == 200 and response.content_type == "application/json"
    assert (await response.json())["status"] == "ok"


async def test_plugins_lists_name_abi_exports_limits(client, store):
    store.add("counter", "counter", manifest="timeout_ms = 300\nmax_memory_pages = 4\n")
    store.add("junk", b"junk")
    response = await client.get("/plugins")
    assert response.status == 200
    body = await response.json()
    assert body["store"] == "local"
    by_name = {p["name"]: p for p in body["plugins"]}
    assert sorted(by_name) == ["counter", "hello", "junk"]
    assert by_name["hello"]["abi_version"] is None  # hello has no get_abi_version
    assert by_name["hello"]["exports"] == ["cleanup", "init", "process"]
    assert by_name["hello"]["limits"]["timeout_ms"] == 5000
    counter = by_name["counter"]
    assert counter["abi_version"] == "v1.0.0"
    assert {"get_abi_version", "init", "process", "cleanup"} <= set(counter["exports"])
    assert counter["limits"]["timeout_ms"] == 300 and counter["limits"]["max_memory_pages"] == 4
    assert by_name["junk"]["error"].startswith("failed to load plugin: ")


async def test_plugins_say_which_engine_runs_each_plugin(make_client, store, tmp_path, monkeypatch, caplog):
    import wasmedge_py.compiler as compiler
    from wasmedge_py.compiler import AotCache, CompileLimits

    store.add("interpreted", "counter", manifest="aot = false\n")
    client = await make_client()
    body = await (await client.get("/plugins")).json()
    by_name = {p["name"]: p for p in body["plugins"]}
    assert by_name["hello"]["engine"] == "aot" and "engine_note" not in by_name["hello"]
    assert by_name["interpreted"]["engine"] == "interpreter" and by_name["interpreted"]["limits"]["aot"] is False

    # A plugin the compiler fails on (here: past a tiny compile time limit) is still served,
    # by the interpreter, and /plugins and the log say why.
    monkeypatch.setattr(
        compiler, "_default_cache", AotCache(tmp_path / "aot", compile_limits=CompileLimits(timeout=0.01))
    )
    store.add("fallback", "counter")
    with caplog.at_level(logging.WARNING):
        response = await client.post("/run", json={"plugin": "fallback", "input": 20})
        assert response.status == 200 and (await response.json())["output"] == 20001
    body = await (await client.get("/plugins")).json()
    fallback = {p["name"]: p for p in body["plugins"]}["fallback"]
    assert fallback["engine"] == "interpreter"
    assert "running in the interpreter" in fallback["engine_note"] and "longer than 0.01 s" in fallback["engine_note"]
    assert any("running in the interpreter" in r.getMessage() for r in caplog.records)


async def test_metrics_count_requests_by_plugin_and_status(client, store):
    store.add("neg", "negative_code")
    await client.post("/run", json={"plugin": "hello", "input": 1})
    await client.post("/run", json={"plugin": "hello", "input": 2})
    await client.post("/run", json={"plugin": "neg", "input": -1})
    await client.post("/run", json={"plugin": "random-name", "input": 1})
    await client.post("/run", data=b"nope")
    await client.get("/run")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = metric_samples(await response.text())
    count = lambda plugin, status: samples.get(  # noqa: E731
        ("wasmedge_py_requests_total", (("plugin", plugin), ("status", status))), 0
    )
    assert count("hello", "200") == 2
    assert count("neg", "422") == 1
    assert count("-", "404") == 1  # unknown names are not labels: clients cannot grow the metrics
    assert count("-", "400") == 1
    assert count("-", "405") == 1
    assert samples[("wasmedge_py_request_duration_seconds_count", (("plugin", "hello"),))] == 2
    assert samples[("wasmedge_py_in_flight", ())] == 0
    assert samples[("wasmedge_py_queue_depth", ())] == 0
    assert samples[("wasmedge_py_workers", ())] == 2


async def test_each_app_has_its_own_metrics(aiohttp_client, store):
    first = await aiohttp_client(make_app(settings_for(store)))
    second = await aiohttp_client(make_app(settings_for(store)))
    await first.post("/run", json={"plugin": "hello", "input": 1})
    text = await (await second.get("/metrics")).text()
    assert 'wasmedge_py_requests_total{plugin="hello"' not in text


async def test_unknown_path_is_json_404(client):
    response = await client.get("/nowhere")
    assert response.status == 404 and response.content_type == "application/json"
    assert (await response.json()) == {"error": "not found"}


async def test_access_log_goes_through_logging(client, caplog):
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        await client.post("/run", json={"plugin": "hello", "input": 1})
    assert any('"POST /run HTTP/1.1" 200' in r.getMessage() for r in caplog.records if r.name == "aiohttp.access")
