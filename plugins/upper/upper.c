/*
 * upper: an ABI v2 text plugin in C. Returns its UTF-8 input with the ASCII letters a-z
 * upper-cased; every other character, including non-ASCII letters, is copied unchanged.
 *
 *   "hello, wörld" -> "HELLO, WöRLD"
 *   empty input    -> error -3 "empty input"
 *   invalid UTF-8  -> error -3 "invalid UTF-8 at position N" (N: 0-based byte offset of the
 *                     first byte of the bad sequence, as Python's UnicodeDecodeError.start)
 *
 * Logs one info line per call ("upper: N bytes") through env.host_log.
 * Built by `make plugins`; see BUILD.md, "Building an ABI v2 plugin with the SDK".
 */
#include "wasmedge_plugin.h"

/* Length of the well-formed UTF-8 sequence starting at s[0] (n bytes available), or 0 if it is
 * not one. Strict, like Python's decoder: no overlong forms, no surrogates, nothing above
 * U+10FFFF. */
static size_t utf8_sequence_length(const uint8_t *s, size_t n) {
    uint8_t b = s[0];
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t len, i;
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0; /* continuation byte, or overlong 2-byte lead C0/C1 */
    if (b < 0xE0) {
        len = 2;
    } else if (b < 0xF0) {
        len = 3;
        if (b == 0xE0) lo = 0xA0; /* overlong */
        if (b == 0xED) hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (b < 0xF5) {
        len = 4;
        if (b == 0xF0) lo = 0x90; /* overlong */
        if (b == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

static int32_t upper(wp_input in, wp_output *out) {
    char line[64] = "upper: ";
    size_t used = 7, i = 0;
    uint8_t *dst;

    used += wp_format_u64(line + used, in.len);
    memcpy(line + used, " bytes", 6);
    wp_log_n(WP_LOG_INFO, line, used + 6);

    if (in.len == 0) return wp_fail(WP_ERR_INVALID_INPUT, "empty input");

    /* Convert straight into the output buffer: one pass, no copy of a possibly large input. */
    dst = wp_output_alloc(out, in.len);
    if (dst == NULL) return WP_ERR_INTERNAL;
    while (i < in.len) {
        uint8_t b = in.data[i];
        size_t n;
        if (b < 0x80) { /* the common case, kept out of the validator */
            dst[i++] = (b >= 'a' && b <= 'z') ? (uint8_t)(b - 'a' + 'A') : b;
            continue;
        }
        n = utf8_sequence_length(in.data + i, in.len - i);
        if (n == 0) return wp_fail_at(WP_ERR_INVALID_INPUT, "invalid UTF-8", i);
        memcpy(dst + i, in.data + i, n);
        i += n;
    }
    return WP_OK;
}

WASMEDGE_PLUGIN_V2(upper)
