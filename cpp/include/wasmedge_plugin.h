/*
 * wasmedge_plugin.h: the C/C++ SDK for ABI v2 plugins (ABI.md, sections 7 and 8).
 *
 * A v2 plugin takes bytes and returns bytes. The ABI for that is small but fiddly: an allocator
 * the host can call, pointer/length pairs packed into an i64, a negative code plus a separate
 * export for the error text, and an optional log import. This header does all of it, so that a
 * plugin is one function plus one macro:
 *
 *     #include "wasmedge_plugin.h"
 *
 *     static int32_t echo(wp_input in, wp_output *out) {
 *         if (in.len == 0) return wp_fail(WP_ERR_INVALID_INPUT, "empty input");
 *         return wp_output_copy(out, in.data, in.len);
 *     }
 *     WASMEDGE_PLUGIN_V2(echo)
 *
 * Build it as a wasm32-wasi reactor linked against wasi-libc (BUILD.md, "Building an ABI v2
 * plugin with the SDK"); `make plugins` does that for plugins/NAME/NAME.{c,cpp}. The exports are
 * named in the source with `export_name`, so no -Wl,--export flags are needed.
 *
 * Dependencies: <stdint.h>, <stddef.h>, <stdlib.h> (malloc/free) and <string.h> (memcpy/strlen)
 * from wasi-libc. None of these import anything from the host. The header deliberately uses no
 * stdio: printf and friends pull in `wasi_snapshot_preview1` imports, and the host provides no
 * WASI to plugins (ABI.md, section 5). The only imports the SDK can create are `env.host_log`, only
 * if the plugin calls wp_log / wp_log_n (see "Logging"), and `env.config_get`, only if it calls
 * wp_config_* (see "Configuration").
 *
 * Works as C11 and as C++17. The C++ layer (namespace wp, std::string_view in and std::string
 * out) is at the end and is opt-in.
 *
 * One module, one plugin: use exactly one WASMEDGE_PLUGIN_V2* macro in exactly one translation
 * unit. Other translation units of the same plugin may include the header and use every helper;
 * the state they share is defined by that one macro.
 *
 * Names: the API is wp_* / WP_* / WASMEDGE_PLUGIN_*. Names starting wpi_ / WPI_ are the SDK's
 * internals (the macros need them to be visible); do not use or define them.
 */
#ifndef WASMEDGE_PLUGIN_H
#define WASMEDGE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------
 * Versions and error codes
 * --------------------------------------------------------------------------------------------- */

/* What get_abi_version returns: major*10000 + minor*100 + patch (ABI.md, section 5). The host picks
 * the v2 contract from the major digit, so this is fixed by the SDK, not chosen by the plugin: the
 * exports this header emits are exactly those of v2.0.0. */
#define WASMEDGE_PLUGIN_ABI_VERSION 20000

/* The error codes with a meaning the host knows (ABI.md, section 3). A process function returns
 * one of these, or any other negative value for a plugin-specific failure (the host then reports
 * ABI_ERROR_UNKNOWN, but still shows the message). */
#define WP_OK 0
#define WP_ERR_NOT_INITIALIZED (-1)     /* process_bytes or cleanup before init; the SDK returns it itself */
#define WP_ERR_ALREADY_INITIALIZED (-2) /* init twice; the SDK returns it itself */
#define WP_ERR_INVALID_INPUT (-3)       /* the input is wrong: the caller should fix it */
#define WP_ERR_INTERNAL (-4)            /* the plugin cannot produce a result (out of memory, overflow, ...) */

/* Room for the message behind get_error_message, in bytes. A fixed buffer rather than malloc so
 * that reporting a failure can never fail itself, including the out-of-memory failure. Longer
 * messages are cut at a UTF-8 character boundary. Define it before including the header to
 * change it (in the translation unit with the WASMEDGE_PLUGIN_V2* macro). */
#ifndef WASMEDGE_PLUGIN_ERROR_CAPACITY
#define WASMEDGE_PLUGIN_ERROR_CAPACITY 1024
#endif

/* ------------------------------------------------------------------------------------------------
 * Attributes
 * --------------------------------------------------------------------------------------------- */

/* Exports and imports are named in the source. `export_name` also keeps the function alive
 * through wasm-ld's dead-code removal, which is what -Wl,--export=NAME did for v1 plugins, and it
 * exports the given string whatever the C++ symbol is, so mangling cannot break an export.
 * On other targets (e.g. compiling the plugin's logic natively to unit-test it) the attributes
 * are dropped; logging then needs a definition of wpi_host_log, or WASMEDGE_PLUGIN_NO_LOG. */
#if defined(__wasm__)
#define WP_EXPORT(name) __attribute__((export_name(name)))
#define WPI_IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#else
#define WP_EXPORT(name)
#define WPI_IMPORT(module, name)
#endif

/* The SDK's own symbols have C linkage, so C and C++ translation units of one plugin share them. */
#ifdef __cplusplus
#define WPI_EXTERN_C_BEGIN extern "C" {
#define WPI_EXTERN_C_END }
#else
#define WPI_EXTERN_C_BEGIN
#define WPI_EXTERN_C_END
#endif

WPI_EXTERN_C_BEGIN

/* ------------------------------------------------------------------------------------------------
 * Input and output
 * --------------------------------------------------------------------------------------------- */

/* The input of one call. `data` points into a buffer the host allocated with the plugin's own
 * `alloc` and frees right after process_bytes returns: read it, copy what must outlive the call,
 * never keep the pointer or free it. It is not NUL-terminated, and `data` may be NULL when
 * `len` is 0 (the host passes no buffer for empty input). */
typedef struct wp_input {
    const uint8_t *data;
    size_t len;
} wp_input;

/* The output of one call, filled by the process function through the wp_output_* helpers. The
 * buffer must come from malloc: the host hands it back to `dealloc`, i.e. free, after copying
 * it out. Leaving it empty means an empty output. On failure the SDK frees whatever was set, so a
 * process function may bail out at any point without cleaning up. */
typedef struct wp_output {
    uint8_t *data;
    size_t len;
} wp_output;

/* What a plugin implements: 0 with the output set, or a negative error code (ideally through
 * wp_fail, so the host can say why). A positive return is a bug in the plugin; the SDK reports it
 * as WP_ERR_INTERNAL rather than guess what was meant. */
typedef int32_t (*wp_process_fn)(wp_input in, wp_output *out);

/* Optional init/cleanup hooks (WASMEDGE_PLUGIN_V2_LIFECYCLE): 0, or a negative error code. */
typedef int32_t (*wp_hook_fn)(void);

/* ------------------------------------------------------------------------------------------------
 * Shared state (defined by the WASMEDGE_PLUGIN_V2* macro)
 * --------------------------------------------------------------------------------------------- */

/* Everything the SDK remembers between calls. It is a plain zero-initialised global on purpose:
 * no constructor runs for it, so it is valid even before `_initialize` (ABI.md, pitfall 7). */
typedef struct wpi_state_t {
    char error[WASMEDGE_PLUGIN_ERROR_CAPACITY]; /* message for get_error_message, not NUL-terminated */
    uint32_t error_len;                         /* 0: no message */
    int32_t initialized;                        /* lifecycle plugins only */
} wpi_state_t;

extern wpi_state_t wpi_state;

/* ------------------------------------------------------------------------------------------------
 * Errors
 * --------------------------------------------------------------------------------------------- */

/* Forget the last message. The SDK calls it at the start of every exported call, so a message
 * can never be reported for a failure it does not belong to. */
static inline void wp_clear_error(void) { wpi_state.error_len = 0; }

/* Why wp_fail is a function returning the code: `return wp_fail(code, "why");` keeps the code and
 * its explanation on one line. A non-negative `code` would turn the failure into a success
 * carrying an error text, so it is replaced by WP_ERR_INTERNAL. The message is copied (the
 * caller's buffer may be on its stack) and cut at WASMEDGE_PLUGIN_ERROR_CAPACITY bytes. */
static inline int32_t wp_fail_n(int32_t code, const char *msg, size_t len) {
    size_t cap = sizeof wpi_state.error;
    if (len > cap) {
        len = cap;
        /* Do not cut a multi-byte character in half: the host decodes the message as UTF-8. */
        while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80) len--;
    }
    if (len > 0) memcpy(wpi_state.error, msg, len);
    wpi_state.error_len = (uint32_t)len;
    return code < 0 ? code : WP_ERR_INTERNAL;
}

static inline int32_t wp_fail(int32_t code, const char *msg) { return wp_fail_n(code, msg, strlen(msg)); }

/* Bytes needed to format any uint64_t in decimal with wp_format_u64, NUL included. */
#define WP_U64_DIGITS 21

/* Decimal formatting without printf (which would drag in WASI imports). Writes a NUL-terminated
 * string into `buf` (at least WP_U64_DIGITS bytes) and returns its length. */
static inline size_t wp_format_u64(char *buf, uint64_t value) {
    char tmp[WP_U64_DIGITS];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

/* Input validation nearly always wants to say where the input went wrong, and without printf
 * that is tedious, so this one composes "MSG at position POS". Positions are whatever the plugin
 * counts in (the examples use 0-based byte offsets into the input). */
static inline int32_t wp_fail_at(int32_t code, const char *msg, uint64_t pos) {
    static const char at[] = " at position ";
    char digits[WP_U64_DIGITS];
    size_t cap = sizeof wpi_state.error, len, n;
    code = wp_fail(code, msg);
    len = wpi_state.error_len;
    n = wp_format_u64(digits, pos);
    /* Only append when the whole suffix fits: a cut-off position would be misleading. */
    if (len + (sizeof at - 1) + n <= cap) {
        memcpy(wpi_state.error + len, at, sizeof at - 1);
        memcpy(wpi_state.error + len + (sizeof at - 1), digits, n);
        wpi_state.error_len = (uint32_t)(len + (sizeof at - 1) + n);
    }
    return code;
}

/* ------------------------------------------------------------------------------------------------
 * Setting the output
 * --------------------------------------------------------------------------------------------- */

/* Drop the current output, if any. Every setter calls it first, so setting the output twice does
 * not leak; the SDK calls it when the process function fails. */
static inline void wp_output_discard(wp_output *out) {
    free(out->data);
    out->data = NULL;
    out->len = 0;
}

/* Allocate `len` bytes of output for the plugin to fill in place: the cheapest way to produce a
 * large output, as nothing is copied. Returns NULL when memory runs out (the module's memory cap
 * is reached), with WP_ERR_INTERNAL's message already set, so the caller only has to
 * `return WP_ERR_INTERNAL;`. */
static inline uint8_t *wp_output_alloc(wp_output *out, size_t len) {
    wp_output_discard(out);
    /* malloc(0) may return NULL, which would look like a failure; one byte never does. */
    out->data = (uint8_t *)malloc(len ? len : 1);
    if (out->data == NULL) {
        wp_fail(WP_ERR_INTERNAL, "out of memory for the output");
        return NULL;
    }
    out->len = len;
    return out->data;
}

/* Copy `len` bytes into a fresh output buffer. Returns 0 or WP_ERR_INTERNAL (out of memory, message
 * set), so it can end a process function: `return wp_output_copy(out, buf, n);`. */
static inline int32_t wp_output_copy(wp_output *out, const void *data, size_t len) {
    uint8_t *buf = wp_output_alloc(out, len);
    if (buf == NULL) return WP_ERR_INTERNAL;
    if (len > 0) memcpy(buf, data, len);
    return WP_OK;
}

/* wp_output_copy for a NUL-terminated string (the NUL is not part of the output). */
static inline int32_t wp_output_str(wp_output *out, const char *text) {
    return wp_output_copy(out, text, strlen(text));
}

/* Hand over a buffer the plugin built itself, without a copy. It must come from malloc/realloc
 * (the host frees it through `dealloc`, i.e. free) and must not be freed or used afterwards;
 * it may be larger than `len`. Returns 0, or WP_ERR_INTERNAL for a NULL buffer with len > 0. */
static inline int32_t wp_output_adopt(wp_output *out, void *malloced, size_t len) {
    if (malloced != out->data) wp_output_discard(out);
    if (malloced == NULL && len > 0) return wp_fail(WP_ERR_INTERNAL, "wp_output_adopt: NULL buffer");
    out->data = (uint8_t *)malloced;
    out->len = len;
    return WP_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Logging
 * --------------------------------------------------------------------------------------------- */

/* Levels of env.host_log; the host maps them to Python logging levels under the logger
 * `wasmedge_py.plugin.<name>`. */
#define WP_LOG_DEBUG 0
#define WP_LOG_INFO 1
#define WP_LOG_WARNING 2
#define WP_LOG_ERROR 3

/* The import exists in the module only if something calls it: clang emits no reference for an
 * unused declaration and wasm-ld then creates no import. That matters because a host must
 * resolve every import, used or not, before the module can run at all. Defining
 * WASMEDGE_PLUGIN_NO_LOG turns every log call into a no-op, which guarantees a module with no
 * imports while keeping the wp_log calls in the source (useful for hosts other than wasmedge-py,
 * which do not provide env.host_log). */
#ifndef WASMEDGE_PLUGIN_NO_LOG
WPI_IMPORT("env", "host_log") void wpi_host_log(int32_t level, const char *msg, int32_t len);

/* Log `len` bytes of UTF-8. The host copies them during the call; no NUL is needed. */
static inline void wp_log_n(int32_t level, const char *msg, size_t len) {
    wpi_host_log(level, msg, (int32_t)len);
}
#else
static inline void wp_log_n(int32_t level, const char *msg, size_t len) {
    (void)level;
    (void)msg;
    (void)len;
}
#endif

/* Log a NUL-terminated string. There is no printf-style variant on purpose: formatting would need
 * stdio (and WASI imports) or a formatter in every plugin. Compose with wp_format_u64, or in C++
 * with std::string and std::to_string. */
static inline void wp_log(int32_t level, const char *msg) { wp_log_n(level, msg, strlen(msg)); }

/* ------------------------------------------------------------------------------------------------
 * Configuration
 * --------------------------------------------------------------------------------------------- */

/* The [config] table of the plugin's plugin.toml: string keys and values that the host keeps and
 * the plugin reads through env.config_get (ABI.md, "Configuration"). As with logging, the import
 * exists only if the plugin calls one of these functions, so a plugin that reads no configuration
 * imports nothing for it. A value is at most WP_CONFIG_MAX_VALUE bytes (the host refuses a
 * plugin.toml with a longer one) and stays the same for the life of the instance. */
#define WP_CONFIG_NOT_FOUND (-1)
#define WP_CONFIG_MAX_VALUE 4096

WPI_IMPORT("env", "config_get")
int32_t wpi_host_config_get(const char *key, int32_t key_len, char *buf, int32_t cap);

/* Copy the value of the `key_len`-byte `key` into `buf`, at most `cap` bytes, no NUL added.
 * Returns the value's whole length, which may exceed `cap` (only `cap` bytes were copied then:
 * call again with a larger buffer), or WP_CONFIG_NOT_FOUND when the key is not set. `buf` may be
 * NULL when `cap` is 0, to ask for the length only. */
static inline int32_t wp_config_read_n(const char *key, size_t key_len, char *buf, size_t cap) {
    if (key_len > 0x7FFFFFFFu) return WP_CONFIG_NOT_FOUND;
    if (cap > 0x7FFFFFFFu) cap = 0x7FFFFFFFu;
    return wpi_host_config_get(key, (int32_t)key_len, buf, (int32_t)cap);
}

/* wp_config_read_n for a NUL-terminated key. */
static inline int32_t wp_config_read(const char *key, char *buf, size_t cap) {
    return wp_config_read_n(key, strlen(key), buf, cap);
}

/* The value of `key` as a NUL-terminated string from malloc (free it when done), or NULL when the
 * key is not set or memory runs out (wp_config_read tells the two apart). A value holding a NUL
 * byte ends there for C string functions; wp_config_read and the C++ wp::config_get see it all. */
static inline char *wp_config_get(const char *key) {
    int32_t len = wp_config_read(key, NULL, 0);
    char *value;
    if (len < 0) return NULL;
    value = (char *)malloc((size_t)len + 1);
    if (value == NULL) return NULL;
    if (len > 0) wp_config_read(key, value, (size_t)len); /* the configuration never changes */
    value[len] = '\0';
    return value;
}

/* ------------------------------------------------------------------------------------------------
 * The glue behind the macros (internal: wpi_)
 * --------------------------------------------------------------------------------------------- */

/* Pointer/length pairs travel as one i64: (ptr << 32) | len. */
static inline int64_t wpi_pack(const void *ptr, size_t len) {
    return (int64_t)(((uint64_t)(uintptr_t)ptr << 32) | (uint64_t)(uint32_t)len);
}

/* alloc: the host puts the input here. Never 0 for a request that can be met, because the host
 * reads 0 as "cannot" (malloc(0) may legitimately return NULL). The i32 is a byte count, read as
 * unsigned. */
static inline void *wpi_alloc(int32_t size) {
    uint32_t n = (uint32_t)size;
    return malloc(n ? n : 1);
}

/* One process_bytes call: clear the old message, run the plugin, turn its result into the packed
 * i64. Everything the host cannot take is refused here with a message instead of being returned
 * (a buffer above 2 GiB would set the sign bit and read as an error code). */
static inline int64_t wpi_process(wp_process_fn fn, const uint8_t *ptr, int32_t len) {
    wp_input in;
    wp_output out;
    int32_t rc;
    in.data = ptr;
    in.len = (uint32_t)len;
    out.data = NULL;
    out.len = 0;
    rc = fn(in, &out);
    if (rc != 0) {
        wp_output_discard(&out);
        if (rc > 0) return wp_fail(WP_ERR_INTERNAL, "the process function returned a positive value");
        return rc;
    }
    if (out.len == 0) {
        /* An empty output is (0, 0) and the host frees nothing, so free any buffer here. */
        wp_output_discard(&out);
        return 0;
    }
    if ((uintptr_t)out.data > 0x7FFFFFFFu || out.len > 0xFFFFFFFFu) {
        wp_output_discard(&out);
        return wp_fail(WP_ERR_INTERNAL, "the output buffer cannot be returned (above 2 GiB)");
    }
    return wpi_pack(out.data, out.len);
}

static inline int64_t wpi_error_message(void) {
    return wpi_state.error_len == 0 ? 0 : wpi_pack(wpi_state.error, wpi_state.error_len);
}

/* The v1 lifecycle rules (ABI.md, section 4), so that any host, not only one that tracks the
 * lifecycle itself, sees -1 and -2 where it expects them. */
static inline int32_t wpi_init(wp_hook_fn hook) {
    int32_t rc;
    if (wpi_state.initialized) return wp_fail(WP_ERR_ALREADY_INITIALIZED, "init() called twice without cleanup()");
    rc = hook();
    if (rc > 0) rc = wp_fail(WP_ERR_INTERNAL, "the init function returned a positive value");
    if (rc == 0) wpi_state.initialized = 1;
    return rc;
}

static inline int32_t wpi_cleanup(wp_hook_fn hook) {
    int32_t rc;
    if (!wpi_state.initialized) return wp_fail(WP_ERR_NOT_INITIALIZED, "cleanup() called before init()");
    /* Uninitialised even if the hook fails: that is how the host counts it too. */
    wpi_state.initialized = 0;
    rc = hook();
    if (rc > 0) rc = wp_fail(WP_ERR_INTERNAL, "the cleanup function returned a positive value");
    return rc;
}

static inline int64_t wpi_process_initialized(wp_process_fn fn, const uint8_t *ptr, int32_t len) {
    if (!wpi_state.initialized) return wp_fail(WP_ERR_NOT_INITIALIZED, "process_bytes() called before init()");
    return wpi_process(fn, ptr, len);
}

/* A hook that does nothing, for WASMEDGE_PLUGIN_V2_LIFECYCLE when only one of init/cleanup is
 * needed. */
static inline int32_t wp_no_hook(void) { return 0; }

WPI_EXTERN_C_END

/* ------------------------------------------------------------------------------------------------
 * The plugin macros
 * --------------------------------------------------------------------------------------------- */

/* The exports every v2 plugin has. The C functions carry wpi_export_ names so that they cannot
 * clash with the plugin's own `alloc` or `process`; the export names are the ABI's. */
#define WPI_COMMON_EXPORTS                                                                          \
    WPI_EXTERN_C_BEGIN                                                                              \
    wpi_state_t wpi_state;                                                                          \
    WP_EXPORT("get_abi_version") int32_t wpi_export_get_abi_version(void) {                         \
        return WASMEDGE_PLUGIN_ABI_VERSION;                                                         \
    }                                                                                               \
    WP_EXPORT("alloc") void *wpi_export_alloc(int32_t size) { return wpi_alloc(size); }             \
    WP_EXPORT("dealloc") void wpi_export_dealloc(void *ptr, int32_t size) {                         \
        (void)size;                                                                                 \
        free(ptr);                                                                                  \
    }                                                                                               \
    WP_EXPORT("get_error_message") int64_t wpi_export_get_error_message(void) {                     \
        return wpi_error_message();                                                                 \
    }                                                                                               \
    WPI_EXTERN_C_END

/* A v2 plugin without a lifecycle: exports get_abi_version, alloc, dealloc, process_bytes and
 * get_error_message. `process_fn` is a wp_process_fn. Each call starts with no error message. */
#define WASMEDGE_PLUGIN_V2(process_fn)                                                              \
    WPI_COMMON_EXPORTS                                                                              \
    WPI_EXTERN_C_BEGIN                                                                              \
    WP_EXPORT("process_bytes") int64_t wpi_export_process_bytes(const uint8_t *ptr, int32_t len) {  \
        wp_clear_error();                                                                           \
        return wpi_process((process_fn), ptr, len);                                                 \
    }                                                                                               \
    WPI_EXTERN_C_END

/* A v2 plugin with a lifecycle: also exports init and cleanup, which call `init_fn` and
 * `cleanup_fn` (wp_hook_fn; pass wp_no_hook for one you do not need). The SDK enforces the v1
 * rules: process_bytes or cleanup before init is WP_ERR_NOT_INITIALIZED, init twice is
 * WP_ERR_ALREADY_INITIALIZED, and a failing init leaves the plugin uninitialised. Use it when
 * set-up is expensive or must be undone (the HTTP service runs init, process, cleanup per
 * request). cleanup_fn must bring the plugin back to its freshly loaded state, because init may
 * run again in the same instance. */
#define WASMEDGE_PLUGIN_V2_LIFECYCLE(process_fn, init_fn, cleanup_fn)                               \
    WPI_COMMON_EXPORTS                                                                              \
    WPI_EXTERN_C_BEGIN                                                                              \
    WP_EXPORT("init") int32_t wpi_export_init(void) {                                               \
        wp_clear_error();                                                                           \
        return wpi_init((init_fn));                                                                 \
    }                                                                                               \
    WP_EXPORT("cleanup") int32_t wpi_export_cleanup(void) {                                         \
        wp_clear_error();                                                                           \
        return wpi_cleanup((cleanup_fn));                                                           \
    }                                                                                               \
    WP_EXPORT("process_bytes") int64_t wpi_export_process_bytes(const uint8_t *ptr, int32_t len) {  \
        wp_clear_error();                                                                           \
        return wpi_process_initialized((process_fn), ptr, len);                                     \
    }                                                                                               \
    WPI_EXTERN_C_END

/* ------------------------------------------------------------------------------------------------
 * C++ layer: namespace wp
 *
 * Opt-in, so that C++ plugins that want no <string> (it costs ~10 KB of libc++ once used) still
 * compile lean: it is there when the plugin defines WASMEDGE_PLUGIN_CXX or includes <string>
 * before this header. It needs C++17 (std::string_view) and libc++ (BUILD.md).
 *
 * Build with -fno-exceptions: wasm32 libc++ cannot throw, so a failed allocation inside
 * std::string is an abort, i.e. a trap the host reports as TrapError. For a bounded input that
 * can be ruled out by capping the input size; the C helpers instead report out-of-memory as
 * WP_ERR_INTERNAL.
 * --------------------------------------------------------------------------------------------- */

#if defined(__cplusplus) && (defined(WASMEDGE_PLUGIN_CXX) || defined(_LIBCPP_STRING) || defined(_GLIBCXX_STRING))
#if __cplusplus < 201703L
#error "the wasmedge_plugin.h C++ layer needs C++17 (-std=c++17)"
#endif
#include <optional>
#include <string>
#include <string_view>

namespace wp {

/* What a C++ plugin implements: fill `out`, return 0; or return a negative code, ideally
 * `return wp::fail(code, "why");`. Whatever is in `out` on failure is discarded. */
using process_fn = int32_t (*)(std::string_view in, std::string &out);

inline std::string_view view(wp_input in) {
    return in.len == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(in.data), in.len);
}

inline int32_t fail(int32_t code, std::string_view msg) { return wp_fail_n(code, msg.data(), msg.size()); }

inline int32_t fail_at(int32_t code, std::string_view msg, uint64_t pos) {
    std::string text(msg);
    text += " at position ";
    text += std::to_string(pos);
    return fail(code, text);
}

inline void log(int32_t level, std::string_view msg) { wp_log_n(level, msg.data(), msg.size()); }

/* The value of configuration key `key` (the plugin.toml [config] table), or std::nullopt when it
 * is not set. */
inline std::optional<std::string> config_get(std::string_view key) {
    int32_t len = wp_config_read_n(key.data(), key.size(), nullptr, 0);
    if (len < 0) return std::nullopt;
    std::string value(static_cast<size_t>(len), '\0');
    if (len > 0) wp_config_read_n(key.data(), key.size(), value.data(), value.size());
    return value;
}

/* Copies: the host frees the output with free(), and a std::string's buffer cannot be detached
 * from it. The copy is one memcpy next to the work that produced the string. */
inline int32_t set_output(wp_output *out, std::string_view bytes) {
    return wp_output_copy(out, bytes.data(), bytes.size());
}

/* The adapter behind WASMEDGE_PLUGIN_V2_CXX. */
inline int32_t run(process_fn fn, wp_input in, wp_output *out) {
    std::string result;
    int32_t rc = fn(view(in), result);
    if (rc != 0) return rc;
    return set_output(out, result);
}

}  // namespace wp

/* WASMEDGE_PLUGIN_V2 / _LIFECYCLE for a wp::process_fn. They define a static adapter function
 * named wpi_cxx_process, so they too can appear once per module. */
#define WPI_CXX_ADAPTER(process_fn)                                                                 \
    static int32_t wpi_cxx_process(wp_input in, wp_output *out) { return ::wp::run((process_fn), in, out); }

#define WASMEDGE_PLUGIN_V2_CXX(process_fn)                                                          \
    WPI_CXX_ADAPTER(process_fn)                                                                     \
    WASMEDGE_PLUGIN_V2(wpi_cxx_process)

#define WASMEDGE_PLUGIN_V2_CXX_LIFECYCLE(process_fn, init_fn, cleanup_fn)                           \
    WPI_CXX_ADAPTER(process_fn)                                                                     \
    WASMEDGE_PLUGIN_V2_LIFECYCLE(wpi_cxx_process, init_fn, cleanup_fn)

#endif /* C++ layer */

#endif /* WASMEDGE_PLUGIN_H */
