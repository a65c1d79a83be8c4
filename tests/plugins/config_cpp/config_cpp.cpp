// Test plugin (tests/test_plugin_config.py): the SDK's configuration helper from C++.
//
// The input is a key; the output is its value (wp::config_get), or for a key that is not set the
// error WP_ERR_INVALID_INPUT with a message naming it.
#define WASMEDGE_PLUGIN_CXX
#include "wasmedge_plugin.h"

static int32_t lookup(std::string_view key, std::string &out) {
    std::optional<std::string> value = wp::config_get(key);
    if (!value) return wp::fail(WP_ERR_INVALID_INPUT, std::string("config key not found: ") + std::string(key));
    out = *value;
    return WP_OK;
}

WASMEDGE_PLUGIN_V2_CXX(lookup)
