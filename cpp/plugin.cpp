// Simple plugin: one pure function, no state, no lifecycle.
//
// The host calls process(x) directly and uses the result as-is. This is the
// smallest useful plugin and the one to start from when learning the toolchain.
//
// Build (see BUILD.md for every flag):
//   clang++-16 --target=wasm32-wasi -nostdlib -Wl,--no-entry \
//     -Wl,--export=process -O3 -o cpp/plugin.wasm cpp/plugin.cpp

// extern "C" keeps the symbol name exactly "process"; a C++ name would be
// mangled (e.g. _Z7processi) and the host could not find it by name.
extern "C" int process(int x) {
    return x * 2 + 1;
}
