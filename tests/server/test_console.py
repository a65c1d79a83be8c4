"""The console at ``GET /`` in a real headless Chromium against a real server process: the
bundled plugins listed, hello run with 21 answering 43, a failing input's error shown, the
traffic panel counting requests, and hostile text from the server shown as text, never markup.

One server and one browser for the module. Without Chromium and its driver the tests skip
(``make setup`` installs them), except in CI (``CI=true``), where they fail instead.
``CONSOLE_SCREENSHOT=docs/console.png`` makes the last test save the README's screenshot there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support import REPO
from support.server import Lines, Store, clean_env, post, server_command

pytestmark = pytest.mark.slow  # a server process and a browser

BUNDLED = ("hello", "json_stats", "upper")
HOSTILE_EXPORT = "<img src=x onerror=\"document.title='pwned'\">"
WAT_HOSTILE_EXPORT = HOSTILE_EXPORT.replace('"', '\\"')
HOSTILE_PLUGIN = f"""(module
  (func (export "init") (result i32) (i32.const 0))
  (func (export "cleanup") (result i32) (i32.const 0))
  (func (export "process") (param i32) (result i32) (local.get 0))
  (func (export "{WAT_HOSTILE_EXPORT}") (result i32) (i32.const 0)))
"""


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Chromium and chromedriver, or a skip saying how to get them (a failure in CI). Session
    scoped, so the check comes before the other session fixtures' work (building the plugins)."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        reason = f"{' and '.join(missing)} not found: `make setup` installs Debian's chromium and chromium-driver"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{reason} (CI must run the browser test)", pytrace=False)
        pytest.skip(reason)
    return found["chromium"] or "", found["chromedriver"] or ""


@pytest.fixture(scope="module")
def browser(browser_binaries) -> Iterator[WebDriver]:
    chromium, chromedriver = browser_binaries
    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations land there
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def console_store(tmp_path_factory, built_plugins, wat) -> Path:
    """The bundled plugins, one whose export name is markup, and one that does not load."""
    root = tmp_path_factory.mktemp("console") / "plugins"
    shutil.copytree(built_plugins / "plugins", root, ignore=shutil.ignore_patterns("*.c", "*.cpp"))
    store = Store(root, wat, root / "hello" / "hello.wasm")
    store.add("hostile", wat(source=HOSTILE_PLUGIN))
    store.add("broken", b"\0asm\1\0\0\0<not a module>")
    return root


@pytest.fixture(scope="module")
def base_url(console_store) -> Iterator[str]:
    process = subprocess.Popen(
        server_command(console_store, "--workers", "2"),
        cwd=REPO,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield Lines(process.stdout).wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
    finally:
        process.kill()
        process.wait()


def wait_for(driver: WebDriver, condition, timeout: float = 20.0):
    """``condition()`` until true; an element the page re-rendered meanwhile (it refreshes every
    2 s) only means: look again."""
    wait = WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(lambda _: condition())


def open_console(browser: WebDriver, base_url: str) -> None:
    """Load the page and wait for its first plugin listing."""
    browser.get(base_url + "/")
    # The first listing compiles every plugin of the store (seconds each on a busy machine).
    wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#plugins tbody tr"), timeout=90)


def cell(browser: WebDriver, table: str, plugin: str, column: str) -> str:
    rows = browser.find_elements(By.CSS_SELECTOR, f'#{table} tbody tr[data-plugin="{plugin}"] td.{column}')
    return rows[0].text if rows else ""


def run_in_page(browser: WebDriver, plugin: str, input_text: str) -> tuple[str, str, str]:
    """Submit the run form; (status line, output, error) once the answer is shown."""
    status = browser.find_element(By.ID, "run-status")
    browser.execute_script("arguments[0].textContent = ''", status)
    for field, text in (("run-plugin", plugin), ("run-input", input_text)):
        element = browser.find_element(By.ID, field)
        element.clear()
        element.send_keys(text)
    browser.find_element(By.ID, "run-button").click()
    wait_for(browser, lambda: status.text)
    return status.text, browser.find_element(By.ID, "run-output").text, browser.find_element(By.ID, "run-error").text


def test_page_is_served_with_a_content_security_policy(base_url):
    with urllib.request.urlopen(base_url + "/") as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"].startswith("text/html")
        assert b'<script src="/console/console.js"' in response.read()
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    with urllib.request.urlopen(base_url + "/console/console.js") as response:
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/console/", "/console/index.html", "/console/../app.py", "/static/console.js"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base_url + path)
        assert missing.value.code == 404, path


def test_lists_the_bundled_plugins(browser, base_url):
    open_console(browser, base_url)
    wait_for(browser, lambda: all(cell(browser, "plugins", name, "name") == name for name in BUNDLED))
    assert cell(browser, "plugins", "hello", "abi") == "v1"
    assert cell(browser, "plugins", "upper", "abi") == "v2.0.0"
    assert "process" in cell(browser, "plugins", "hello", "exports").split()
    assert "memory 4 MiB" in cell(browser, "plugins", "json_stats", "limits")  # its plugin.toml
    assert cell(browser, "plugins", "hello", "engine")
    assert cell(browser, "plugins", "hello", "load-error") == ""
    assert cell(browser, "plugins", "broken", "load-error").startswith("failed to load plugin")


def test_runs_hello_with_21_and_reads_43(browser, base_url):
    open_console(browser, base_url)
    status, output, error = run_in_page(browser, "hello", "21")
    assert status.startswith("200 OK")
    assert (output, error) == ("43", "")


def test_shows_the_error_of_a_failing_input(browser, base_url):
    open_console(browser, base_url)
    status, output, error = run_in_page(browser, "json_stats", '{"no": "values"}')
    assert status.startswith("422")
    assert output == ""
    assert 'missing key "values"' in error and "ABI_ERROR_INVALID_INPUT" in error

    status, _, error = run_in_page(browser, "hello", "{oops")
    assert status == "not sent"
    assert error.startswith("input is not valid JSON")


def test_traffic_panel_counts_requests_from_the_metrics(browser, base_url):
    open_console(browser, base_url)
    wait_for(browser, lambda: browser.find_element(By.ID, "traffic-head").text)
    hello_before = int(cell(browser, "traffic", "hello", "requests") or 0)
    errors_before = int(cell(browser, "traffic", "json_stats", "errors") or 0)
    for _ in range(3):
        assert post(f"{base_url}/run", {"plugin": "hello", "input": 1})[0] == 200
    assert post(f"{base_url}/run", {"plugin": "json_stats", "input": {}})[0] == 422
    # The page refreshes by itself (every 2 s): no reload, no click.
    wait_for(browser, lambda: cell(browser, "traffic", "hello", "requests") == str(hello_before + 3))
    wait_for(browser, lambda: cell(browser, "traffic", "json_stats", "errors") == str(errors_before + 1))
    assert cell(browser, "traffic", "hello", "errors") == "0"
    assert "422×" in cell(browser, "traffic", "json_stats", "statuses")
    quantiles = browser.find_elements(By.CSS_SELECTOR, '#traffic tr[data-plugin="hello"] td.quantile')
    assert len(quantiles) == 3 and all(q.text.endswith("s") for q in quantiles)


def test_hostile_text_from_the_server_stays_text(browser, base_url):
    open_console(browser, base_url)
    wait_for(browser, lambda: HOSTILE_EXPORT in cell(browser, "plugins", "hostile", "exports"))
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert browser.title == "wasmedge-py console"
    # Blocked script or style (source "security") and script errors; the 4xx answers of the
    # failing runs above are logged too, as "network".
    logged = browser.get_log("browser")
    assert [entry for entry in logged if entry["level"] == "SEVERE" and entry["source"] != "network"] == []


MULTIPROCESS_SCRAPE = """\
# TYPE wasmedge_py_requests_total counter
wasmedge_py_requests_total{plugin="a",status="200",pid="1"} 3.0
wasmedge_py_requests_total{plugin="a",status="504",pid="2"} 1.0
wasmedge_py_requests_created{plugin="a",status="200"} 1.7e+09
wasmedge_py_plugin_cpu_seconds_total{plugin="a",pid="1"} 0.25
wasmedge_py_plugin_cpu_seconds_total{plugin="a",pid="2"} 0.5
# TYPE wasmedge_py_workers gauge
wasmedge_py_workers{pid="1"} 2.0
wasmedge_py_workers{pid="2"} 2.0
a line this parser does not know
"""


def test_metrics_parser_of_the_page(browser, base_url):
    """The page's own Prometheus parsing, called in the browser: escapes, junk, quantiles, sums."""
    open_console(browser, base_url)
    parse = "return parseSample(arguments[0])"
    assert browser.execute_script(parse, 'x{plugin="a\\"b\\\\c\\n",le="+Inf"} 2.5 1700000000') == {
        "name": "x",
        "labels": {"plugin": 'a"b\\c\n', "le": "+Inf"},
        "value": 2.5,
    }
    assert browser.execute_script(parse, 'x{plugin="unterminated} 1') is None
    assert browser.execute_script(parse, "x not-a-number") is None
    buckets = "new Map([[0.005, 0], [0.01, 10], [Infinity, 10]])"
    assert browser.execute_script(f"return quantile(0.5, {buckets})") == {"seconds": 0.0075, "above": False}
    beyond = "new Map([[0.01, 1], [Infinity, 4]])"
    assert browser.execute_script(f"return quantile(0.99, {beyond})") == {"seconds": 0.01, "above": True}
    summary = browser.execute_script(
        """const s = summarize(parseMetrics(arguments[0])); const a = s.plugins.get("a");
        return [a.requests, a.errors, s.extraColumns, a.extra.get("cpu_seconds"), s.service.gauges.get("wasmedge_py_workers")]""",
        MULTIPROCESS_SCRAPE,
    )
    assert summary == [4, 1, ["cpu_seconds"], 0.75, 4]


def test_token_is_kept_for_the_tab_only(browser, base_url):
    open_console(browser, base_url)
    state = browser.find_element(By.ID, "token-state")
    assert state.text == "read-only: no token"
    browser.find_element(By.ID, "token").send_keys("s3cret\n")
    wait_for(browser, lambda: state.text == "token set (this tab only)")
    assert browser.execute_script("return sessionStorage.getItem('wasmedge-py.token')") == "s3cret"
    assert run_in_page(browser, "hello", "21")[1] == "43"  # sent as a bearer token; ignored today
    browser.find_element(By.ID, "token-forget").click()
    assert state.text == "read-only: no token"


def test_screenshot(browser, base_url, tmp_path):
    """The README's picture (``CONSOLE_SCREENSHOT=docs/console.png``), after a run of hello."""
    open_console(browser, base_url)
    run_in_page(browser, "hello", "21")
    wait_for(browser, lambda: cell(browser, "traffic", "hello", "requests"))
    target = Path(os.environ.get("CONSOLE_SCREENSHOT") or tmp_path / "console.png")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd(  # the whole page, not just the window
        "Emulation.setDeviceMetricsOverride", {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False}
    )
    try:
        assert browser.save_screenshot(str(target))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
