# wasmedge-py build entry point.
#
# This top part builds the WebAssembly plugins; see BUILD.md for what every
# flag does. Further targets are appended below it.

CXX_WASM ?= clang++-16
CC_WASM ?= clang-16
WASM_FLAGS = --target=wasm32-wasi -nostdlib -Wl,--no-entry -O3

# ABI v2 plugins built with the SDK header (BUILD.md, "Building an ABI v2 plugin
# with the SDK"): a wasi-libc reactor, exports named in the source, no name
# section, stack below the data so that an overflow traps. C++ adds libc++
# (whose headers clang-16 does not find by itself) without exceptions.
SDK_INCLUDE = cpp/include
SDK_HEADER = $(SDK_INCLUDE)/wasmedge_plugin.h
WASI_CXX_INCLUDE ?= /usr/include/wasm32-wasi/c++/v1
SDK_FLAGS = --target=wasm32-wasi -O3 -Wall -Wextra -I $(SDK_INCLUDE) \
            -mexec-model=reactor -Wl,--no-entry -Wl,--strip-all -Wl,--stack-first
SDK_CFLAGS = -std=c11
SDK_CXXFLAGS = -std=c++17 -stdlib++-isystem $(WASI_CXX_INCLUDE) -fno-exceptions

# Exports used by plugins/NAME/NAME.cpp when the directory has no `exports` file.
DEFAULT_PLUGIN_EXPORTS = init process cleanup

comma := ,

.PHONY: setup plugins toolchain test

VENV ?= .venv
PYTEST_ARGS ?=

# ---------------------------------------------------------------------------
# Plugins
#
# ABI v1 plugins are built by the one pattern rule `%.wasm: %.cpp` at the end
# of this section. Such a plugin only declares which functions it exports,
# through the target-specific variable EXPORTS; nothing else differs between
# them. ABI v2 plugins (the SDK) are built by the two rules after it and
# declare nothing: their exports are in their source.
# ---------------------------------------------------------------------------

# The two examples in cpp/.
cpp/plugin.wasm:     EXPORTS = process
cpp/plugin_abi.wasm: EXPORTS = get_abi_version init process cleanup get_call_count is_initialized

EXAMPLE_PLUGINS = cpp/plugin.wasm cpp/plugin_abi.wasm

# Served plugins: every plugins/NAME/NAME.cpp (or NAME.c, see ABI v2 below)
# becomes plugins/NAME/NAME.wasm, which is where the HTTP service looks for
# plugin NAME. Other source files in a plugin directory are ignored.
dir_name = $(notdir $(patsubst %/,%,$(dir $1)))
PLUGINS_DIR ?= plugins
PLUGIN_SOURCES := $(foreach s,$(wildcard $(PLUGINS_DIR)/*/*.c $(PLUGINS_DIR)/*/*.cpp),\
                    $(if $(filter $(call dir_name,$s),$(basename $(notdir $s))),$s))

# ABI v2 plugins: a source that includes the SDK header (#include
# "wasmedge_plugin.h") is a v2 plugin; the source itself says so, no other
# file is needed. NAME.c is built as C, NAME.cpp as C++ with libc++, both with
# the SDK flags above. The exports come from the WASMEDGE_PLUGIN_V2* macro in
# the source, so there is no export list; the header is a prerequisite, so
# editing it rebuilds them. plugins/NAME/plugin.toml (limits) is read by the
# host at load time and plays no part in the build.
SDK_SOURCES := $(if $(PLUGIN_SOURCES),$(shell grep -lE \
                 'include[[:space:]]*["<]wasmedge_plugin\.h[">]' $(PLUGIN_SOURCES)))
V2_C_PLUGINS := $(patsubst %.c,%.wasm,$(filter %.c,$(SDK_SOURCES)))
V2_CXX_PLUGINS := $(patsubst %.cpp,%.wasm,$(filter %.cpp,$(SDK_SOURCES)))
V2_PLUGINS := $(V2_C_PLUGINS) $(V2_CXX_PLUGINS)
$(foreach s,$(filter-out $(SDK_SOURCES),$(filter %.c,$(PLUGIN_SOURCES))),\
  $(warning $s: not built: a C plugin must include wasmedge_plugin.h (ABI v2)))

# ABI v1 plugins: every other plugins/NAME/NAME.cpp. An optional
# plugins/NAME/exports file lists the export names (whitespace- or
# newline-separated) and replaces DEFAULT_PLUGIN_EXPORTS; it is a
# prerequisite, so editing it rebuilds.
SERVED_SOURCES := $(filter-out $(SDK_SOURCES),$(filter %.cpp,$(PLUGIN_SOURCES)))
SERVED_PLUGINS := $(SERVED_SOURCES:.cpp=.wasm)
CLASHES := $(strip $(foreach w,$(sort $(V2_PLUGINS)),$(if $(word 2,$(filter $w,$(V2_PLUGINS) $(SERVED_PLUGINS))),$(dir $w))))
$(if $(CLASHES),$(error $(CLASHES): both NAME.c and NAME.cpp build NAME.wasm; keep one))

define served_plugin
$1: EXPORTS = $$(or $$(strip $$(file < $(dir $1)exports)),$$(DEFAULT_PLUGIN_EXPORTS))
$1: $(wildcard $(dir $1)exports)
endef
$(foreach w,$(SERVED_PLUGINS),$(eval $(call served_plugin,$w)))

ALL_PLUGINS = $(EXAMPLE_PLUGINS) $(SERVED_PLUGINS) $(V2_PLUGINS)

plugins: $(ALL_PLUGINS)

# Missing compiler: install the system packages first (scripts/setup.sh is idempotent).
$(ALL_PLUGINS): | toolchain
toolchain:
	@command -v $(CXX_WASM) >/dev/null 2>&1 || scripts/setup.sh --packages-only

# Stops a recipe with a hint when compiler $1 is missing.
require_compiler = @command -v $1 >/dev/null 2>&1 || { \
	  echo "error: $1 not found; run 'make setup' (see BUILD.md)" >&2; exit 1; }

# The v1 rule. It refuses to build a module that would export nothing.
%.wasm: %.cpp
	$(call require_compiler,$(CXX_WASM))
	$(if $(strip $(EXPORTS)),,$(error $@: no EXPORTS declared for this plugin))
	$(CXX_WASM) $(WASM_FLAGS) $(addprefix -Wl$(comma)--export=,$(EXPORTS)) -o $@ $<

# The v2 rules (static pattern rules, so they win over the v1 rule above).
$(V2_C_PLUGINS): %.wasm: %.c $(SDK_HEADER)
	$(call require_compiler,$(CC_WASM))
	$(CC_WASM) $(SDK_FLAGS) $(SDK_CFLAGS) -o $@ $<

$(V2_CXX_PLUGINS): %.wasm: %.cpp $(SDK_HEADER)
	$(call require_compiler,$(CXX_WASM))
	$(CXX_WASM) $(SDK_FLAGS) $(SDK_CXXFLAGS) -o $@ $<

# ---------------------------------------------------------------------------
# Setup and tests. `make setup` installs whatever is missing (system packages,
# venv, plugins) and is quick when everything is there, so other targets
# simply start with it.
# ---------------------------------------------------------------------------

setup:
	@scripts/setup.sh

# Lint and type checks (ruff, mypy: settings in pyproject.toml); `make test` runs them first.
# The Kubernetes manifests: yamllint (.yamllint), then Kubernetes' own schemas, offline (they ship
# with kubernetes-validate), for the oldest Kubernetes we support and the newest it knows.
K8S_VERSIONS ?= 1.29.0 1.37.0
.PHONY: lint
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/yamllint --strict .
	$(foreach v,$(K8S_VERSIONS),$(VENV)/bin/kubernetes-validate --strict --quiet -k $v deploy/kubernetes.yaml &&) true

test: setup lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Everything but the tests marked `slow` (real processes, AOT compiles, fuzzing, the CLI parity
# batch): well under 30 s. `make test` still runs them all.
.PHONY: test-fast
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The whole suite in ABI mode (the library opened with ffi.dlopen, no compiled extension: the Python
# paths instead of the C watchdog, the one-call lifecycle and the native workers). Tests that
# exist only for the compiled extension skip themselves. About as long as `make test`.
.PHONY: test-abi
test-abi: setup
	WASMEDGE_LIB=libwasmedge.so.0 $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# 100,000 load -> instantiate -> call -> close cycles; fails if RSS grows 5 % or more.
.PHONY: rss
rss: setup
	$(VENV)/bin/python bench/rss_cycles.py

# One table, every row measured in the same run: warm call, isolated lifecycle, compute (AOT,
# interpreter, wasmtime-py, native C), load (cold AOT compile vs cache hit) and HTTP (/run vs a bare
# aiohttp handler, gunicorn -w 2, 2 busy requests on 2 threads vs 1). Needs the `bench`
# extra (wasmtime), installed here when missing. `make bench-profile`: where a warm call's time goes.
.PHONY: bench bench-profile
bench: setup
	@$(VENV)/bin/python -c 'import wasmtime' 2>/dev/null || $(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	@command -v wrk >/dev/null 2>&1 || BENCH=1 scripts/setup.sh --packages-only
	$(VENV)/bin/python bench/run.py

bench-profile: setup
	$(VENV)/bin/python bench/profile_call.py

# A normal plugin's latency (p50/p99) while another plugin floods the service with runaway
# requests, next to its latency with no flood: python -m server with the default settings.
.PHONY: bench-fairness
bench-fairness: setup plugins
	$(VENV)/bin/python bench/fairness.py

# ---------------------------------------------------------------------------
# HTTP service (server/). `make serve` installs what is missing, builds the
# plugins and serves ./plugins on 127.0.0.1:8080 until Ctrl-C / SIGTERM.
# Extra flags: make serve SERVE_ARGS='--workers 4 --timeout-ms 500'
# ---------------------------------------------------------------------------
.PHONY: serve
SERVE_ARGS ?=
serve: setup plugins
	$(VENV)/bin/python -m server --host 127.0.0.1 --port 8080 --plugins plugins $(SERVE_ARGS)

# ---------------------------------------------------------------------------
# Fuzzing (tests/fuzz/fuzz.py): 10,000 mutated modules through the binding and the
# plugin runtime, in batches run by child processes. Fails on any crash, hang
# or exception that is not a WasmEdgeError; crashers are saved with a note in
# build/fuzz-crashes. Vary it with FUZZ_ARGS='--seed 2 --modules 50000'.
# A 300-module run (--quick) is part of `make test`.
# Then the API fuzzer (tests/fuzz/api_fuzz.py): 3 minutes of random sequences of the
# public API (hypothesis state machine), each in a child process; fails on any
# crash, hang, non-WasmEdgeError exception or leaked native object, saving a
# minimised reproducer script in build/api-fuzz-crashes. Vary it with
# API_FUZZ_ARGS='--seconds 600 --seed 2'. 40 sequences are part of `make test`.
# ---------------------------------------------------------------------------
.PHONY: fuzz
FUZZ_ARGS ?=
API_FUZZ_ARGS ?=
fuzz: setup
	$(VENV)/bin/python tests/fuzz/fuzz.py --modules 10000 --batch 200 --jobs 2 --seed 1 $(FUZZ_ARGS)
	$(VENV)/bin/python tests/fuzz/api_fuzz.py --seconds 180 --seed 1 $(API_FUZZ_ARGS)

# The SDK example plugins checked exhaustively (thousands of inputs; about a minute).
.PHONY: check-sdk
check-sdk: setup
	$(VENV)/bin/python scripts/check_sdk_plugins.py

# 100,000 runtime lifecycles, then a real server (default settings): normal requests alone, then
# 10,000 requests of which 30 % go to hostile plugins (looping, log-flooding, trapping, error code).
# Fails on a wrong answer, RSS growth of 5 % or more, or a log over its bound (bench/soak.py).
.PHONY: soak
soak: setup plugins
	$(VENV)/bin/python bench/soak.py
