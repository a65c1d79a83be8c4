// The console's only script (served by server/console.py). It reads GET /plugins, /metrics and
// /healthz every REFRESH_MS while the tab is visible, and runs plugins through POST /run.
//
// Everything the server sends (plugin names, exports, errors, label values) is hostile input:
// it reaches the page through textContent and attribute values only, never as markup.
"use strict";

const REFRESH_MS = 2000;
const TOKEN_KEY = "wasmedge-py.token"; // sessionStorage: this tab only, gone when it closes
const METRIC_PREFIX = "wasmedge_py_";
const REQUESTS = "wasmedge_py_requests";
const LATENCY = "wasmedge_py_request_duration_seconds";
const LOADS = "wasmedge_py_plugin_loads";
const SHOWN_FAMILIES = new Set([REQUESTS, LATENCY, LOADS]);
const NO_PLUGIN = "-"; // requests refused before a plugin was known (server/metrics.py)
const QUANTILES = [0.5, 0.9, 0.99];

const byId = (id) => document.getElementById(id);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// -- Prometheus text exposition format --------------------------------------------------------

/** One sample line -> {name, labels, value}, or null for a line this parser does not understand. */
function parseSample(line) {
  const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
  if (!name) return null;
  let i = name[0].length;
  const labels = Object.create(null);
  if (line[i] === "{") {
    i += 1;
    for (;;) {
      while (line[i] === " " || line[i] === ",") i += 1;
      if (line[i] === "}") { i += 1; break; }
      const key = /^[A-Za-z_][A-Za-z0-9_]*/.exec(line.slice(i));
      if (!key || line[i + key[0].length] !== "=" || line[i + key[0].length + 1] !== '"') return null;
      i += key[0].length + 2;
      let value = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) return null;
        i += 1;
        if (c === '"') break;
        if (c === "\\") {
          const escaped = line[i];
          i += 1;
          value += escaped === "n" ? "\n" : escaped;
        } else {
          value += c;
        }
      }
      labels[key[0]] = value;
    }
  }
  const text = line.slice(i).trim().split(/\s+/)[0];
  const value = text === "+Inf" ? Infinity : text === "-Inf" ? -Infinity : Number(text);
  if (text === undefined || text === "" || (Number.isNaN(value) && text !== "NaN")) return null;
  return { name: name[0], labels, value };
}

/** The whole scrape -> {types: Map(family -> type), samples: [...]}. Unknown lines are skipped. */
function parseMetrics(text) {
  const types = new Map();
  const samples = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("# TYPE ")) {
      const [family, type] = line.slice(7).trim().split(/\s+/);
      types.set(family, type);
    } else if (line && !line.startsWith("#")) {
      const sample = parseSample(line);
      if (sample) samples.push(sample);
    }
  }
  return { types, samples };
}

/** The per-plugin column a sample adds to, for metrics without a panel of their own (such as
 * CPU time or fuel): a counter's x_total and a histogram's x_sum count as x; timestamps
 * (_created), buckets and sample counts do not. Suffixes, not "# TYPE" lines, decide: the
 * multiprocess exposition types each sample name on its own. */
function columnOf(name) {
  if (/_(created|bucket|count|gcount|gsum)$/.test(name)) return null;
  return name.replace(/_(total|sum)$/, "");
}

/** Per-plugin figures (summed over any other labels, such as a worker's pid) and service totals. */
function summarize(metrics) {
  const plugins = new Map();
  const service = { loadsOk: 0, loadsFailed: 0, gauges: new Map() };
  const extraColumns = new Set();
  const stats = (plugin) => {
    if (!plugins.has(plugin)) {
      plugins.set(plugin, { requests: 0, errors: 0, statuses: new Map(), buckets: new Map(), sum: 0, count: 0, extra: new Map() });
    }
    return plugins.get(plugin);
  };
  for (const { name, labels, value } of metrics.samples) {
    const plugin = labels.plugin;
    if (name === LOADS + "_total") {
      if (labels.result === "ok") service.loadsOk += value;
      else service.loadsFailed += value;
    } else if (plugin === undefined) {
      if (name.startsWith(METRIC_PREFIX) && !name.endsWith("_created") && metrics.types.get(name) === "gauge") {
        service.gauges.set(name, (service.gauges.get(name) || 0) + value);
      }
    } else if (name === REQUESTS + "_total") {
      const s = stats(plugin);
      s.requests += value;
      const status = Number(labels.status);
      if (status >= 400) {
        s.errors += value;
        s.statuses.set(status, (s.statuses.get(status) || 0) + value);
      }
    } else if (name === LATENCY + "_bucket") {
      const s = stats(plugin);
      const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
      if (!Number.isNaN(le)) s.buckets.set(le, (s.buckets.get(le) || 0) + value);
    } else if (name === LATENCY + "_sum") {
      stats(plugin).sum += value;
    } else if (name === LATENCY + "_count") {
      stats(plugin).count += value;
    } else if (name.startsWith(METRIC_PREFIX) && columnOf(name) && !SHOWN_FAMILIES.has(columnOf(name))) {
      const column = columnOf(name).slice(METRIC_PREFIX.length).replace(/^plugin_/, "");
      extraColumns.add(column);
      const extra = stats(plugin).extra;
      extra.set(column, (extra.get(column) || 0) + value);
    }
  }
  return { plugins, service, extraColumns: [...extraColumns].sort() };
}

/** Estimate of quantile q from cumulative buckets, interpolated as Prometheus'
 * histogram_quantile does: {seconds, above} (above: beyond the largest finite bound), or null. */
function quantile(q, buckets) {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = bounds.length ? buckets.get(bounds[bounds.length - 1]) : 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const upper of bounds) {
    const count = buckets.get(upper);
    if (count >= rank) {
      if (upper === Infinity) return { seconds: lower, above: true };
      const share = count > below ? (rank - below) / (count - below) : 1;
      return { seconds: lower + (upper - lower) * share, above: false };
    }
    lower = upper;
    below = count;
  }
  return null;
}

// -- formatting ---------------------------------------------------------------------------------

function formatSeconds(seconds) {
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(0)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toPrecision(3)} ms`;
  return `${seconds.toPrecision(3)} s`;
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1 && bytes % 1024 === 0) { bytes /= 1024; i += 1; }
  return `${bytes} ${units[i]}`;
}

function formatCount(value) {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

function formatColumn(column, value) {
  return column.endsWith("_seconds") ? formatSeconds(value) : formatCount(value);
}

const LIMIT_FORMATS = {
  timeout_ms: (v) => (v ? `timeout ${v} ms` : "no timeout"),
  max_memory_pages: (v) => (v === null ? "memory unlimited" : `memory ${formatBytes(v * 65536)}`),
  max_stack_bytes: (v) => (v === null ? null : `stack ${formatBytes(v)}`),
  fuel: (v) => (v === null ? null : `fuel ${v}`),
  wasi: (v) => (v ? "WASI" : null),
  max_output_bytes: (v) => (v === null ? null : `output ≤ ${formatBytes(v)}`),
  aot: () => null, // the engine column says it
  max_concurrency: (v) => (v === null ? null : `concurrency ${v}`),
  max_queue: (v) => (v === null ? null : `queue ${v}`),
};

/** A setting this page does not know yet: shown unless it is empty. */
function describeOther(key, value) {
  if (value === null || value === false || (Array.isArray(value) && value.length === 0)) return null;
  const shown = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? JSON.stringify(value) : value;
  return `${key.replace(/_/g, " ")} ${shown}`;
}

function describeLimits(limits) {
  if (!limits || typeof limits !== "object") return "";
  const parts = [];
  for (const [key, value] of Object.entries(limits)) {
    const format = LIMIT_FORMATS[key];
    const text = format ? format(value) : describeOther(key, value);
    if (text) parts.push(text);
  }
  return parts.join(" · ");
}

// -- talking to the service ---------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

async function fetchText(path) {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  const text = await response.text();
  if (!response.ok && response.status !== 503) throw new Error(`${path}: ${response.status} ${response.statusText}`);
  return text;
}

// -- panels -------------------------------------------------------------------------------------

// Gauges that /healthz already reports under another name (it describes the process answering).
const GAUGES_IN_HEALTH = { queue_depth: "queued", abandoned_runs: "abandoned" };

function renderService(health, summary, store) {
  const list = byId("service");
  const facts = [];
  if (health) {
    for (const [key, value] of Object.entries(health)) {
      if (value === null || typeof value !== "object") facts.push([key.replace(/_/g, " "), value]);
    }
  }
  if (summary) {
    for (const [name, value] of summary.service.gauges) {
      const gauge = name.slice(METRIC_PREFIX.length);
      const key = (GAUGES_IN_HEALTH[gauge] || gauge).replace(/_/g, " ");
      if (!facts.some(([known]) => known === key)) facts.push([key, formatCount(value)]);
    }
    facts.push(["plugin loads", `${formatCount(summary.service.loadsOk)} ok, ${formatCount(summary.service.loadsFailed)} failed`]);
  }
  if (store) facts.push(["store", store]);
  list.replaceChildren(...facts.flatMap(([key, value]) => [element("dt", key), element("dd", value)]));
}

let previous = null; // {at, totals: Map(plugin -> requests)} for the req/s column

function renderTraffic(summary) {
  const now = performance.now();
  const columns = ["plugin", "requests", "req/s", "errors", "error statuses",
    ...QUANTILES.map((q) => `p${Math.round(q * 100)}`), "mean", ...summary.extraColumns.map((c) => c.replace(/_seconds$/, "_time").replace(/_/g, " "))];
  byId("traffic-head").replaceChildren(...columns.map((c) => element("th", c)));
  const names = [...summary.plugins.keys()].sort((a, b) => (a === NO_PLUGIN) - (b === NO_PLUGIN) || a.localeCompare(b));
  const rows = names.map((name) => {
    const s = summary.plugins.get(name);
    const row = element("tr");
    row.dataset.plugin = name;
    const label = name === NO_PLUGIN ? "(refused before a plugin was known)" : name;
    const before = previous ? previous.totals.get(name) : undefined;
    const rate = before !== undefined && s.requests >= before ? (s.requests - before) / ((now - previous.at) / 1000) : null;
    const statuses = [...s.statuses].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}×${formatCount(n)}`).join(" ");
    const cells = [
      [label, "name"],
      [formatCount(s.requests), "requests"],
      [rate === null ? "" : rate.toFixed(1), "rate"],
      [formatCount(s.errors), s.errors ? "errors error" : "errors"],
      [statuses, "statuses"],
      ...QUANTILES.map((q) => {
        const estimate = quantile(q, s.buckets);
        if (!estimate) return ["", "quantile"];
        return [(estimate.above ? "> " : "") + formatSeconds(estimate.seconds), "quantile"];
      }),
      [s.count ? formatSeconds(s.sum / s.count) : "", "mean"],
      ...summary.extraColumns.map((c) => [s.extra.has(c) ? formatColumn(c, s.extra.get(c)) : "", "extra"]),
    ];
    row.replaceChildren(...cells.map(([text, className]) => element("td", text, className)));
    return row;
  });
  byId("traffic").tBodies[0].replaceChildren(...rows);
  byId("traffic-empty").hidden = rows.length > 0;
  previous = { at: now, totals: new Map(names.map((name) => [name, summary.plugins.get(name).requests])) };
}

function renderPlugins(listing) {
  const plugins = Array.isArray(listing.plugins) ? listing.plugins : [];
  byId("store").textContent = listing.store ? `(${listing.store} store)` : "";
  const rows = plugins.map((plugin) => {
    const row = element("tr");
    row.dataset.plugin = String(plugin.name);
    const failed = typeof plugin.error === "string";
    const abi = failed ? "" : plugin.abi_version || "v1";
    const engine = element("td", plugin.engine || "", "engine");
    if (plugin.engine_note) engine.append(element("div", plugin.engine_note, "note"));
    const exports = element("td", "", "exports");
    for (const name of Array.isArray(plugin.exports) ? plugin.exports : []) exports.append(element("code", name), " ");
    row.replaceChildren(
      element("td", plugin.name, "name"),
      element("td", abi, "abi"),
      engine,
      element("td", describeLimits(plugin.limits), "limits"),
      exports,
      element("td", failed ? plugin.error : "", "load-error error"),
    );
    if (failed) row.className = "failed";
    return row;
  });
  byId("plugins").tBodies[0].replaceChildren(...rows);
  byId("plugins-empty").hidden = rows.length > 0;
  const names = plugins.map((p) => String(p.name));
  const datalist = byId("plugin-names");
  if (datalist.dataset.names !== JSON.stringify(names)) {
    datalist.dataset.names = JSON.stringify(names);
    datalist.replaceChildren(...names.map((name) => Object.assign(element("option"), { value: name })));
  }
}

let refreshing = null;

/** One round of GET /plugins, /metrics and /healthz; each panel keeps its last view on failure. */
function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    const [listing, metrics, health] = await Promise.allSettled([
      fetchText("/plugins").then(JSON.parse),
      fetchText("/metrics").then(parseMetrics),
      fetchText("/healthz").then(JSON.parse),
    ]);
    const problems = [listing, metrics, health].filter((r) => r.status === "rejected").map((r) => r.reason.message);
    if (listing.status === "fulfilled") renderPlugins(listing.value);
    const summary = metrics.status === "fulfilled" ? summarize(metrics.value) : null;
    if (summary) renderTraffic(summary);
    renderService(health.status === "fulfilled" ? health.value : null, summary,
      listing.status === "fulfilled" ? listing.value.store : null);
    const status = byId("service-status");
    status.className = problems.length ? "status error" : "status";
    status.textContent = problems.length
      ? `cannot read ${problems.join("; ")}`
      : `updated ${new Date().toLocaleTimeString()}`;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

let timer = null;

function schedule() {
  clearTimeout(timer);
  if (byId("auto-refresh").checked && !document.hidden) timer = setTimeout(tick, REFRESH_MS);
}

async function tick() {
  await refresh();
  schedule();
}

// -- the run form -------------------------------------------------------------------------------

function showRun(statusText, output, error) {
  byId("run-result").hidden = false;
  byId("run-status").textContent = statusText;
  byId("run-output").textContent = output;
  byId("run-output").hidden = output === "";
  byId("run-error").textContent = error;
  byId("run-error").hidden = error === "";
}

async function runPlugin(event) {
  event.preventDefault();
  const name = byId("run-plugin").value.trim();
  const input = byId("run-input").value;
  try {
    JSON.parse(input);
  } catch (err) {
    showRun("not sent", "", `input is not valid JSON: ${err.message}`);
    return;
  }
  // The input goes as typed, not re-serialized: large integers keep every digit and the
  // server's own JSON checks see exactly what the user wrote.
  const body = `{"plugin": ${JSON.stringify(name)}, "input": ${input}}`;
  const button = byId("run-button");
  button.disabled = true;
  const started = performance.now();
  try {
    const response = await fetch("/run", {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json" },
      body,
    });
    const text = await response.text();
    const took = formatSeconds((performance.now() - started) / 1000);
    let answer = null;
    try { answer = JSON.parse(text); } catch { /* shown as text below */ }
    const status = `${[response.status, response.statusText].filter(Boolean).join(" ")} · ${took}`;
    if (response.ok && answer && "output" in answer) {
      showRun(status, JSON.stringify(answer.output, null, 2), "");
    } else {
      let error = answer && typeof answer.error === "string" ? answer.error : text.slice(0, 4000);
      if (answer && typeof answer.code_name === "string") error += ` [${answer.code_name}]`;
      if (response.status === 401 && !token()) error += " (this server wants a bearer token: enter it above)";
      showRun(status, "", error);
    }
  } catch (err) {
    showRun("request failed", "", err.message);
  } finally {
    button.disabled = false;
    refresh(); // the traffic panel counts this request at once
  }
}

// -- the token ----------------------------------------------------------------------------------

function showTokenState() {
  byId("token-state").textContent = token() ? "token set (this tab only)" : "read-only: no token";
}

function useToken(event) {
  event.preventDefault();
  const value = byId("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  byId("token").value = "";
  showTokenState();
  refresh();
}

function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  byId("token").value = "";
  showTokenState();
}

document.addEventListener("DOMContentLoaded", () => {
  byId("run-form").addEventListener("submit", runPlugin);
  byId("token-form").addEventListener("submit", useToken);
  byId("token-forget").addEventListener("click", forgetToken);
  byId("auto-refresh").addEventListener("change", schedule);
  document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : tick()));
  showTokenState();
  tick();
});
