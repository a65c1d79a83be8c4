// ABI v1 plugin: versioned, with an explicit lifecycle and error codes.
//
//   get_abi_version() -> 10000 (v1.0.0), checked by the host before anything else
//   init()            -> 0, or -2 if already initialized
//   process(x)        -> 2x + 1 (>= 0), or a negative error code
//   cleanup()         -> 0, or -1 if not initialized
//   get_call_count()  -> successful process() calls since init()
//   is_initialized()  -> 1 or 0
//
// The full contract is in ABI.md; the build command is in BUILD.md.
//
// Built with -nostdlib, so this file uses no headers and no libc: the limits
// below are spelled out instead of taken from <climits>.

namespace {

// Version encoded as major*10000 + minor*100 + patch, so one i32 carries it.
constexpr int kAbiVersionMajor = 1;
constexpr int kAbiVersionMinor = 0;
constexpr int kAbiVersionPatch = 0;

// Return codes shared with the host. Negative always means failure, so the
// host can tell an error from a result without a second channel.
constexpr int kOk = 0;
constexpr int kErrNotInitialized = -1;
constexpr int kErrAlreadyInitialized = -2;
constexpr int kErrInvalidInput = -3;
constexpr int kErrInternal = -4;

constexpr int kInt32Max = 2147483647;

// Plain globals with constant initializers: they live in the data section,
// so no static constructor has to run (there is none under -nostdlib).
bool g_initialized = false;
int g_call_count = 0;

}  // namespace

// Every export is extern "C" so its wasm export name is the plain C name.
extern "C" {

int get_abi_version() {
    return kAbiVersionMajor * 10000 + kAbiVersionMinor * 100 + kAbiVersionPatch;
}

int init() {
    // Refuse a second init rather than silently resetting: a double init is a
    // host bug worth reporting.
    if (g_initialized) {
        return kErrAlreadyInitialized;
    }
    g_initialized = true;
    g_call_count = 0;
    return kOk;
}

int process(int x) {
    if (!g_initialized) {
        return kErrNotInitialized;
    }
    // Negative results are reserved for error codes, so negative input
    // (whose result 2x+1 could be negative) is rejected up front.
    if (x < 0) {
        return kErrInvalidInput;
    }
    // Check before computing: signed overflow is undefined behaviour in C++,
    // and at -O3 the compiler may assume it never happens.
    if (x > (kInt32Max - 1) / 2) {
        return kErrInternal;
    }
    ++g_call_count;
    return x * 2 + 1;
}

int cleanup() {
    if (!g_initialized) {
        return kErrNotInitialized;
    }
    // Reset everything so the same instance could be initialized again.
    g_initialized = false;
    g_call_count = 0;
    return kOk;
}

// Diagnostics: cheap read-only views of the state, useful in tests.
int get_call_count() {
    return g_call_count;
}

int is_initialized() {
    return g_initialized ? 1 : 0;
}

}  // extern "C"
