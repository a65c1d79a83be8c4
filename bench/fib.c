/* Compute-heavy kernel for `make bench`: naive recursive Fibonacci.
 *
 * Built twice from this one source: to wasm32 with clang-16 (exported as `fib`, run by WasmEdge's
 * interpreter, WasmEdge AOT and wasmtime) and natively with gcc -O2 (FIB_NATIVE_MAIN, the floor). */

#ifdef FIB_NATIVE_MAIN
#define FIB_EXPORT __attribute__((noinline))
#else
#define FIB_EXPORT __attribute__((export_name("fib")))
#endif

FIB_EXPORT int fib(int n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

#ifdef FIB_NATIVE_MAIN
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* fib_native N REPEATS -> prints "RESULT NS_PER_CALL" (best of REPEATS). */
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 30;
    int repeats = argc > 2 ? atoi(argv[2]) : 5;
    volatile int sink = 0;
    double best = -1;
    for (int i = 0; i < repeats; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sink = fib(n);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
        if (best < 0 || ns < best) best = ns;
    }
    printf("%d %.0f\n", sink, best);
    return 0;
}
#endif
