/* Test plugin (tests/test_plugin_config.py): the SDK's configuration helpers from C.
 *
 * Input "KEY": the output is KEY's value (wp_config_get). Input "peek:KEY": the output is what
 * wp_config_read returns with a 4-byte buffer, in decimal, then ":" and the bytes it copied.
 * A key that is not set fails with WP_ERR_INVALID_INPUT and a message naming it. */
#include "wasmedge_plugin.h"

static int32_t not_found(const char *key) {
    static const char prefix[] = "config key not found: ";
    char msg[sizeof prefix + 128];
    size_t n = strlen(key);
    if (n > 128) n = 128;
    memcpy(msg, prefix, sizeof prefix - 1);
    memcpy(msg + sizeof prefix - 1, key, n);
    return wp_fail_n(WP_ERR_INVALID_INPUT, msg, sizeof prefix - 1 + n);
}

static int32_t peek(const char *key, wp_output *out) {
    char copied[4], text[WP_U64_DIGITS + 1 + sizeof copied];
    int32_t len = wp_config_read(key, copied, sizeof copied);
    size_t n, shown;
    if (len == WP_CONFIG_NOT_FOUND) return not_found(key);
    n = wp_format_u64(text, (uint64_t)len);
    text[n++] = ':';
    shown = (size_t)len < sizeof copied ? (size_t)len : sizeof copied;
    memcpy(text + n, copied, shown);
    return wp_output_copy(out, text, n + shown);
}

static int32_t lookup(wp_input in, wp_output *out) {
    char key[256];
    char *value;
    int32_t rc;
    if (in.len == 0 || in.len >= sizeof key) return wp_fail(WP_ERR_INVALID_INPUT, "input: a key of 1-255 bytes");
    memcpy(key, in.data, in.len);
    key[in.len] = '\0';
    if (strncmp(key, "peek:", 5) == 0) return peek(key + 5, out);
    value = wp_config_get(key);
    if (value == NULL) return not_found(key);
    rc = wp_output_str(out, value);
    free(value);
    return rc;
}

WASMEDGE_PLUGIN_V2(lookup)
