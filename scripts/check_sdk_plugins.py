"""Check the ABI v2 example plugins (plugins/upper, plugins/json_stats) built with the C/C++ SDK.

Drives the v2 contract by hand through the low-level binding (Module, Instance, HostModule), not
through Plugin, so it checks the plugins independently of the host's v2 implementation:
alloc -> write -> process_bytes -> dealloc, unpack the i64, read and dealloc the output, and
get_error_message after a negative code. Run `make plugins` first:

    .venv/bin/python scripts/check_sdk_plugins.py

Exits non-zero on the first failed check.
"""

from __future__ import annotations

import json
import math
import random
import struct
import sys
from pathlib import Path

from wasmedge_py import Config, HostModule, Instance, Module, host_function

REPO = Path(__file__).resolve().parent.parent


class PluginFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class V2:
    """One instance of a v2 plugin, with env.host_log collecting (level, text) pairs."""

    def __init__(self, name: str, max_memory_pages: int | None = None) -> None:
        self.logs: list[tuple[int, str]] = []

        @host_function(params=["i32", "i32", "i32"], name="host_log")
        def host_log(caller, level, ptr, n):
            self.logs.append((level, caller.read(ptr & 0xFFFFFFFF, n).decode()))

        path = REPO / "plugins" / name / f"{name}.wasm"
        module = Module.from_file(path, Config(max_memory_pages=max_memory_pages) if max_memory_pages else None)
        self.module = module
        self.instance = Instance(module, host_modules=[HostModule("env", [host_log])])
        self.memory = self.instance.memory()

    def unpack(self, packed: int) -> tuple[int, int]:
        packed &= (1 << 64) - 1
        return packed >> 32, packed & 0xFFFFFFFF

    def error_message(self) -> str | None:
        packed = self.instance.call("get_error_message")
        if packed == 0:
            return None
        ptr, n = self.unpack(packed)
        return self.memory.read(ptr, n).decode()

    def __call__(self, data: bytes) -> bytes:
        ptr = 0
        if data:
            ptr = self.instance.call("alloc", len(data)) & 0xFFFFFFFF
            assert ptr != 0, "alloc failed"
            self.memory.write(ptr, data)
        try:
            packed = self.instance.call("process_bytes", ptr, len(data))
        finally:
            if data:
                self.instance.call("dealloc", ptr, len(data))
        if packed < 0:
            raise PluginFailed(packed, self.error_message())
        out_ptr, out_len = self.unpack(packed)
        if out_len == 0:
            return b""
        assert out_ptr + out_len <= self.memory.size, (out_ptr, out_len)
        out = self.memory.read(out_ptr, out_len)
        self.instance.call("dealloc", out_ptr, out_len)
        return out


checks = 0


def check(condition: bool, what: str) -> None:
    global checks
    if not condition:
        sys.exit(f"FAILED: {what}")
    checks += 1


def expect_error(plugin: V2, data: bytes, code: int, message: str) -> None:
    try:
        out = plugin(data)
    except PluginFailed as exc:
        check(
            (exc.code, exc.message) == (code, message),
            f"{data[:60]!r}: got {exc.code} {exc.message!r}, want {code} {message!r}",
        )
    else:
        sys.exit(f"FAILED: {data[:60]!r}: expected error {code} {message!r}, got output {out[:60]!r}")


def check_imports_exports() -> None:
    v2 = {"get_abi_version", "alloc", "dealloc", "process_bytes", "get_error_message", "memory", "_initialize"}
    for name, imports in (("upper", ["env.host_log"]), ("json_stats", [])):
        module = Module.from_file(REPO / "plugins" / name / f"{name}.wasm")
        check([f"{i.module}.{i.name}" for i in module.imports] == imports, f"{name} imports {module.imports}")
        check({e.name for e in module.exports} == v2, f"{name} exports {module.exports}")


def check_upper() -> None:
    upper = V2("upper")
    check(upper.instance.call("get_abi_version") == 20000, "upper: get_abi_version")
    check(upper(b"hello") == b"HELLO", "upper: hello")
    check(upper.logs == [(1, "upper: 5 bytes")], f"upper: log {upper.logs}")
    check(upper("hello, wörld ß ǆ 😀".encode()) == "HELLO, WöRLD ß ǆ 😀".encode(), "upper: non-ASCII kept")
    expect_error(upper, b"", -3, "empty input")
    check(upper.logs[-1] == (1, "upper: 0 bytes"), "upper: logs failed calls too")
    check(upper(b"ok") == b"OK" and upper.error_message() is None, "upper: message cleared by the next call")
    for bad, pos in [
        (b"ab\xff", 2),
        (b"\xc0\x80", 0),
        (b"a\xe2\x82", 1),
        (b"\xed\xa0\x80", 0),
        (b"xy\xf4\x90\x80\x80", 2),
        (b"\x80", 0),
        (b"abc\xf0\x9f\x98", 3),
    ]:
        expect_error(upper, bad, -3, f"invalid UTF-8 at position {pos}")

    # Validation agrees with Python's strict decoder on random byte strings.
    rng = random.Random(1)
    for _ in range(3000):
        data = bytes(
            rng.choice([rng.randrange(256), rng.randrange(0x80, 0x100), 0x61]) for _ in range(rng.randrange(1, 12))
        )
        try:
            want = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            expect_error(upper, data, -3, f"invalid UTF-8 at position {exc.start}")
        else:
            check(upper(data) == data.upper() and want is not None, f"upper: {data!r}")

    # 1 MiB round trip (mixed ASCII and multi-byte text); memory must not grow from call to call.
    text = ("The quick brown fox jumps over the lazy dog; Ünïcödé ✓ 😀 " * 20000).encode()[: 1 << 20]
    text = text.decode("utf-8", "ignore").encode()
    check(upper(text) == text.upper(), "upper: 1 MiB round trip")
    pages = upper.memory.pages
    for _ in range(20):
        check(upper(text) == text.upper(), "upper: 1 MiB repeated")
    check(upper.memory.pages == pages, f"upper: memory grew from {pages} to {upper.memory.pages} pages")
    print(f"upper: ok ({len(upper.logs)} log lines, {pages} pages after 1 MiB calls)")


def python_format(x: float) -> str:
    """What json_stats promises: repr(x), with integral values below 1e16 as integers."""
    r = repr(x)
    return r[:-2] if r.endswith(".0") else r


def check_json_stats() -> None:
    stats = V2("json_stats", max_memory_pages=64)  # as in plugins/json_stats/plugin.toml

    def call(value: str | bytes) -> object:
        return json.loads(stats(value if isinstance(value, bytes) else value.encode()))

    out = stats(b'{"values": [1, 2.5, 3]}')
    check(out == b'{"count":3,"sum":6.5,"mean":2.1666666666666665,"min":1,"max":3}', f"json_stats: example {out!r}")
    check(call('{"values": []}') == {"count": 0, "sum": 0, "mean": None, "min": None, "max": None}, "json_stats: empty")
    check(
        call(
            ' {"other": {"values": "x"}, "list": [true, false, null, "\\"\\u00e9\\ud83d\\ude00"], "values": [-1e3, 0.5e-2, 7] }\n'
        )
        == {"count": 3, "sum": -992.995, "mean": -330.99833333333333, "min": -1000, "max": 7},
        "json_stats: mixed document",
    )
    check(call('{"val\\u0075es": [4]}')["count"] == 1, "json_stats: escaped key")
    check(
        stats(b'{"values": [-0.0]}') == b'{"count":1,"sum":0,"mean":0,"min":-0.0,"max":-0.0}',
        "json_stats: negative zero",
    )

    errors = [
        (b"", "unexpected end of input at position 0"),
        (b"   ", "unexpected end of input at position 3"),
        (b"[1, 2]", "expected a JSON object at position 0"),
        (b'  "text"', "expected a JSON object at position 2"),
        (b"{}", 'missing key "values"'),
        (b'{"values": 5}', '"values" must be an array at position 11'),
        (b'{"values": [1, "2", 3]}', "values[1] is not a number at position 15"),
        (b'{"values": [1], "values": [2]}', 'duplicate key "values" at position 16'),
        (b'{"values": [1, 2,]}', "unexpected character ']' at position 17"),
        (b'{"values": [1 2]}', "expected ',' or ']' at position 14"),
        (b'{"values": [01]}', "expected ',' or ']' at position 13"),
        (b'{"values": [1.]}', "invalid number at position 12"),
        (b'{"values": [-]}', "invalid number at position 12"),
        (b'{"values": [1e]}', "invalid number at position 12"),
        (b'{"values": [.5]}', "unexpected character '.' at position 12"),
        (b'{"values": [+1]}', "unexpected character '+' at position 12"),
        (b'{"values": [NaN]}', "unexpected character 'N' at position 12"),
        (b'{"values": [1e400]}', "number out of range at position 12"),
        (b'{"values": [1', "unexpected end of input at position 13"),
        (b'{"values" [1]}', "expected ':' at position 10"),
        (b"{'values': [1]}", "expected a string key at position 1"),
        (b'{"values": [1]} x', "unexpected data after the JSON value at position 16"),
        (b'{"a": "x\x01"}', "control character in string at position 8"),
        (b'{"a": "\\x"}', "invalid escape at position 7"),
        (b'{"a": "\\u12g4"}', "invalid \\u escape at position 7"),
        (b'{"a": "\\ud800"}', "unpaired surrogate in \\u escape at position 7"),
        (b'{"a": "\\udc00"}', "unpaired surrogate in \\u escape at position 7"),
        (b'{"a": "abc', "unterminated string starting at position 6"),
        (b'{"a": "\xff"}', "invalid UTF-8 at position 7"),
        (b'{"a": tru}', "unexpected character 't' at position 6"),
        (b'{"a": \x00}', "unexpected byte 0x00 at position 6"),
        # Syntax errors win over a semantic error found earlier.
        (b'{"values": 5, }', "expected a string key at position 14"),
    ]
    for data, message in errors:
        expect_error(stats, data, -3, message)
        # Python's json rejects these too, or parses them into something that is not an object
        # with a "values" list of finite numbers (it accepts NaN and Infinity, which JSON does not).
        try:
            value = json.loads(data)
            check(
                not (isinstance(value, dict) and isinstance(value.get("values"), list))
                or any(not isinstance(v, (int, float)) or not math.isfinite(v) for v in value["values"])
                or data.count(b'"values"') > 1,
                f"python accepts {data!r}",
            )
        except ValueError:
            pass
    expect_error(stats, b'{"values": [1e308, 1e308]}', -4, "the sum is beyond the range of a double")

    # Nesting: 128 containers are fine, 129 are an error, and a huge depth is an error, not a trap.
    check(call('{"values": [], "x": ' + "[" * 127 + "]" * 127 + "}")["count"] == 0, "json_stats: depth 128")
    expect_error(
        stats,
        ('{"values": [], "x": ' + "[" * 128 + "]" * 128 + "}").encode(),
        -3,
        "nesting deeper than 128 at position 147",
    )
    expect_error(stats, b"[" * 100000, -3, "nesting deeper than 128 at position 128")

    # Number output round-trips bit for bit, and matches repr (integers without ".0").
    rng = random.Random(2)
    samples = [
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        0.1,
        0.3,
        1 / 3,
        1e16,
        1e15,
        123456789012345680.0,
        9007199254740993.0,
        1e-4,
        9.999999999999999e-5,
        1e22,
        1e23,
        2.0**-1074 * 3,
        4.35e-321,
        2.0**63,
        0.5,
        100.0,
    ]
    samples += [math.ldexp(1.0, k) for k in range(-1074, 1024, 7)]  # powers of two: lopsided intervals
    samples += [-x for x in samples[:20]]
    while len(samples) < 3500:
        (x,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(x):
            samples.append(x)
    samples += [rng.uniform(-1000, 1000) for _ in range(1000)] + [
        float(rng.randrange(-(10**6), 10**6)) for _ in range(200)
    ]
    differ = []
    for x in samples:
        out = stats(json.dumps({"values": [x]}).encode()).decode()
        got = json.loads(out)
        check(
            struct.pack("<d", got["min"]) == struct.pack("<d", x),
            f"json_stats: {x!r} read back as {got['min']!r} from {out}",
        )
        text = out.split('"min":')[1].split(",")[0]
        if text != python_format(x):
            differ.append((repr(x), text))
    check(not differ, f"json_stats: numbers printed unlike repr: {differ[:5]} ({len(differ)} of {len(samples)})")

    # Sum and mean agree with Python's plain float arithmetic.
    for _ in range(300):
        values = [
            rng.choice(
                [rng.uniform(-1e6, 1e6), rng.randrange(-1000, 1000), rng.random() * 10 ** rng.randrange(-20, 20)]
            )
            for _ in range(rng.randrange(1, 50))
        ]
        got = call(json.dumps({"values": values}))
        total = 0.0
        for v in values:
            total += v
        want = {"count": len(values), "sum": total, "mean": total / len(values), "min": min(values), "max": max(values)}
        check(
            got == want and all(type(got[k]) in (int, float) for k in want),
            f"json_stats: {values} -> {got}, want {want}",
        )

    # Big input within the 64-page cap: ~1.4 MiB of numbers, repeated without memory growth.
    big_values = [rng.uniform(-1, 1) for _ in range(60000)]
    big = json.dumps({"values": big_values}).encode()
    got = call(big)
    check(
        got["count"] == 60000 and got["min"] == min(big_values) and got["max"] == max(big_values),
        "json_stats: big input",
    )
    pages = stats.memory.pages
    for _ in range(5):
        call(big)
    check(stats.memory.pages == pages, "json_stats: memory grew")
    print(f"json_stats: ok ({len(samples)} numbers round-tripped, {len(big)} byte input in {pages} pages)")


if __name__ == "__main__":
    check_imports_exports()
    check_upper()
    check_json_stats()
    print(f"all {checks} checks passed")
