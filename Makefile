# wasmedge-py build entry point.
#
# This top part builds the WebAssembly plugins; see BUILD.md for what every
# flag does. Further targets are appended below it.

CXX_WASM ?= clang++-16
WASM_FLAGS = --target=wasm32-wasi -nostdlib -Wl,--no-entry -O3

# Exports used by plugins/NAME/NAME.cpp when the directory has no `exports` file.
DEFAULT_PLUGIN_EXPORTS = init process cleanup

comma := ,

.PHONY: setup plugins toolchain test

VENV ?= .venv
PYTEST_ARGS ?=

# ---------------------------------------------------------------------------
# Plugins
#
# Every plugin is built by the one pattern rule at the end of this section.
# A plugin only declares which functions it exports, through the
# target-specific variable EXPORTS; nothing else differs between plugins.
# ---------------------------------------------------------------------------

# The two examples in cpp/.
cpp/plugin.wasm:     EXPORTS = process
cpp/plugin_abi.wasm: EXPORTS = get_abi_version init process cleanup get_call_count is_initialized

EXAMPLE_PLUGINS = cpp/plugin.wasm cpp/plugin_abi.wasm

# Served plugins: every plugins/NAME/NAME.cpp becomes plugins/NAME/NAME.wasm,
# which is where the HTTP service looks for plugin NAME. Other .cpp files in
# a plugin directory are ignored. An optional plugins/NAME/exports file lists
# the export names (whitespace- or newline-separated) and replaces
# DEFAULT_PLUGIN_EXPORTS; it is a prerequisite, so editing it rebuilds.
dir_name = $(notdir $(patsubst %/,%,$(dir $1)))
SERVED_SOURCES := $(foreach s,$(wildcard plugins/*/*.cpp),\
                    $(if $(filter $(call dir_name,$s).cpp,$(notdir $s)),$s))
SERVED_PLUGINS := $(SERVED_SOURCES:.cpp=.wasm)

define served_plugin
$1: EXPORTS = $$(or $$(strip $$(file < $(dir $1)exports)),$$(DEFAULT_PLUGIN_EXPORTS))
$1: $(wildcard $(dir $1)exports)
endef
$(foreach w,$(SERVED_PLUGINS),$(eval $(call served_plugin,$w)))

ALL_PLUGINS = $(EXAMPLE_PLUGINS) $(SERVED_PLUGINS)

plugins: $(ALL_PLUGINS)

# Missing compiler: install the system packages first (scripts/setup.sh is idempotent).
$(ALL_PLUGINS): | toolchain
toolchain:
	@command -v $(CXX_WASM) >/dev/null 2>&1 || scripts/setup.sh --packages-only

# The rule itself. It stops with a hint when the compiler is missing, and
# refuses to build a module that would export nothing.
%.wasm: %.cpp
	@command -v $(CXX_WASM) >/dev/null 2>&1 || { \
	  echo "error: $(CXX_WASM) not found; run 'make setup' (see BUILD.md)" >&2; exit 1; }
	$(if $(strip $(EXPORTS)),,$(error $@: no EXPORTS declared for this plugin))
	$(CXX_WASM) $(WASM_FLAGS) $(addprefix -Wl$(comma)--export=,$(EXPORTS)) -o $@ $<

# ---------------------------------------------------------------------------
# Setup and tests. `make setup` installs whatever is missing (system packages,
# venv, plugins) and is quick when everything is there, so other targets
# simply start with it.
# ---------------------------------------------------------------------------

setup:
	@scripts/setup.sh

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# 100,000 load -> instantiate -> call -> close cycles; fails if RSS grows 5 % or more.
.PHONY: rss
rss: setup
	$(VENV)/bin/python bench/rss_cycles.py
