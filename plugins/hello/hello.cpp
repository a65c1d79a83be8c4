// "hello": the example plugin served by the HTTP service (POST /run).
//
// The service loads plugins/hello/hello.wasm and runs, per request:
//   init() -> process(input) -> cleanup()
// Build: `make plugins` (exports come from the default list: init process cleanup).

namespace {

// Constant-initialized, so it needs no static constructor under -nostdlib.
bool g_initialized = false;

}  // namespace

// extern "C" so the exports are named init/process/cleanup, not mangled names.
extern "C" {

int init() {
    g_initialized = true;
    return 0;
}

int process(int x) {
    // -1 (not initialized) tells the host it skipped init().
    if (!g_initialized) {
        return -1;
    }
    return x * 2 + 1;
}

int cleanup() {
    g_initialized = false;
    return 0;
}

}  // extern "C"
