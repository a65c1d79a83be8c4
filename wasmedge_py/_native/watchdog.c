/* The watchdog: one native thread that stops a timed call still running at its deadline, with no
 * Python on the timed path (the semantics of executor.Watchdog, which ABI mode keeps using).
 *
 * A timed call arms an entry that lives on its own C stack (wpy_armed), runs synchronously on the
 * caller's thread, and disarms it. Past the deadline the thread cancels through the executor's stop
 * handle (WasmEdge_AsyncCancel sets the executor's stop flag), and again until the call disarms:
 * after 5 ms, doubling up to 100 ms, because a stop is taken by whichever call on that executor
 * checks first, which may be a nested call made by a host function. A call whose entry fired
 * drains a stop that may have landed after it returned, with a call to a no-op function, so the
 * next call on the executor is not stopped by it.
 *
 * Arming and disarming take an uncontended mutex; the thread is woken only when a new deadline is
 * earlier than the one it sleeps towards. In a forked child the thread is gone: the child starts
 * a new one on its first arm, and entries armed before the fork are forgotten (generation). */

#include <pthread.h>
#include <time.h>

#define WPY_REPEAT_STOP_NS 5000000ULL
#define WPY_REPEAT_STOP_MAX_NS 100000000ULL
#define WPY_LONGEST_WAIT_NS 3600000000000ULL /* wakes at least hourly: no OS clock overflow */
#define WPY_NO_DEADLINE UINT64_MAX

uint64_t wpy_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

typedef struct wpy_armed {
    struct wpy_armed *prev, *next;
    WasmEdge_Async *stop;
    uint64_t due_ns;    /* when the next stop is sent */
    uint64_t repeat_ns; /* then the one after it, this much later */
    uint64_t generation;
    int fired;
} wpy_armed;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    wpy_armed armed;     /* sentinel of a circular list */
    uint64_t wake_at;    /* what the thread sleeps towards */
    uint64_t generation; /* bumped in a forked child */
    uint64_t stops_sent;
    int running;
} wpy_dog;

static pthread_once_t wpy_dog_once = PTHREAD_ONCE_INIT;

static void wpy_dog_reset(void) {
    pthread_condattr_t attr;
    pthread_mutex_init(&wpy_dog.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wpy_dog.wake, &attr);
    pthread_condattr_destroy(&attr);
    wpy_dog.armed.prev = wpy_dog.armed.next = &wpy_dog.armed;
    wpy_dog.wake_at = WPY_NO_DEADLINE;
    wpy_dog.running = 0;
}

static void wpy_dog_before_fork(void) { pthread_mutex_lock(&wpy_dog.lock); }
static void wpy_dog_after_fork_parent(void) { pthread_mutex_unlock(&wpy_dog.lock); }
static void wpy_dog_after_fork_child(void) {
    uint64_t generation = wpy_dog.generation + 1;
    wpy_dog_reset();
    wpy_dog.generation = generation;
}

static void wpy_dog_init(void) {
    wpy_dog_reset();
    pthread_atfork(wpy_dog_before_fork, wpy_dog_after_fork_parent, wpy_dog_after_fork_child);
}

/* Send every due stop, schedule the next ones; returns the earliest next due time. */
static uint64_t wpy_dog_fire_due(uint64_t now) {
    uint64_t next = WPY_NO_DEADLINE;
    for (wpy_armed *entry = wpy_dog.armed.next; entry != &wpy_dog.armed; entry = entry->next) {
        if (entry->due_ns <= now) {
            WasmEdge_AsyncCancel(entry->stop);
            wpy_dog.stops_sent++;
            entry->fired = 1;
            entry->due_ns = now + entry->repeat_ns;
            entry->repeat_ns = entry->repeat_ns * 2 < WPY_REPEAT_STOP_MAX_NS ? entry->repeat_ns * 2 : WPY_REPEAT_STOP_MAX_NS;
        }
        if (entry->due_ns < next) next = entry->due_ns;
    }
    return next;
}

static void *wpy_dog_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&wpy_dog.lock);
    for (;;) {
        uint64_t now = wpy_now_ns();
        uint64_t next = wpy_dog_fire_due(now);
        wpy_dog.wake_at = next;
        if (next == WPY_NO_DEADLINE) {
            pthread_cond_wait(&wpy_dog.wake, &wpy_dog.lock);
            continue;
        }
        if (next - now > WPY_LONGEST_WAIT_NS) next = now + WPY_LONGEST_WAIT_NS;
        struct timespec until = {(time_t)(next / 1000000000ULL), (long)(next % 1000000000ULL)};
        pthread_cond_timedwait(&wpy_dog.wake, &wpy_dog.lock, &until);
    }
    return NULL;
}

/* Arm ``entry`` to stop through ``stop`` after ``timeout`` seconds (clamped to 0..WPY_MAX_TIMEOUT_S,
 * nan to the maximum, as executor.Watchdog.arm). 0 if the watchdog thread cannot be started. */
static int wpy_arm(wpy_armed *entry, WasmEdge_Async *stop, double timeout) {
    if (!(timeout >= 0 && timeout <= WPY_MAX_TIMEOUT_S)) timeout = timeout < 0 ? 0 : WPY_MAX_TIMEOUT_S;
    pthread_once(&wpy_dog_once, wpy_dog_init);
    entry->stop = stop;
    entry->fired = 0;
    entry->repeat_ns = WPY_REPEAT_STOP_NS;
    entry->due_ns = wpy_now_ns() + (uint64_t)(timeout * 1e9);
    pthread_mutex_lock(&wpy_dog.lock);
    if (!wpy_dog.running) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int failed = pthread_create(&thread, &attr, wpy_dog_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) {
            pthread_mutex_unlock(&wpy_dog.lock);
            return 0;
        }
        wpy_dog.running = 1;
    }
    entry->generation = wpy_dog.generation;
    entry->next = wpy_dog.armed.next;
    entry->prev = &wpy_dog.armed;
    wpy_dog.armed.next->prev = entry;
    wpy_dog.armed.next = entry;
    if (entry->due_ns < wpy_dog.wake_at) {
        wpy_dog.wake_at = entry->due_ns;
        pthread_cond_signal(&wpy_dog.wake);
    }
    pthread_mutex_unlock(&wpy_dog.lock);
    return 1;
}

/* Whether the entry fired; after this the watchdog no longer touches it. */
static int wpy_disarm(wpy_armed *entry) {
    pthread_mutex_lock(&wpy_dog.lock);
    if (entry->generation == wpy_dog.generation) {
        entry->prev->next = entry->next;
        entry->next->prev = entry->prev;
    }
    int fired = entry->fired;
    pthread_mutex_unlock(&wpy_dog.lock);
    return fired;
}

uint64_t wpy_watchdog_stops_sent(void) {
    pthread_once(&wpy_dog_once, wpy_dog_init);
    pthread_mutex_lock(&wpy_dog.lock);
    uint64_t sent = wpy_dog.stops_sent;
    pthread_mutex_unlock(&wpy_dog.lock);
    return sent;
}

uint32_t wpy_watchdog_armed(void) {
    pthread_once(&wpy_dog_once, wpy_dog_init);
    pthread_mutex_lock(&wpy_dog.lock);
    uint32_t count = 0;
    for (wpy_armed *entry = wpy_dog.armed.next; entry != &wpy_dog.armed; entry = entry->next) count++;
    pthread_mutex_unlock(&wpy_dog.lock);
    return count;
}

/* -- the no-op function every drain calls ------------------------------------------------------ */

static WasmEdge_Result wpy_nothing(void *data, const WasmEdge_CallingFrameContext *frame, const WasmEdge_Value *in,
                                   WasmEdge_Value *out) {
    (void)data, (void)frame, (void)in, (void)out;
    return WasmEdge_Result_Success;
}

static WasmEdge_FunctionInstanceContext *wpy_noop_function;
static pthread_once_t wpy_noop_once = PTHREAD_ONCE_INIT;

static void wpy_noop_init(void) {
    WasmEdge_FunctionTypeContext *type = WasmEdge_FunctionTypeCreate(NULL, 0, NULL, 0);
    wpy_noop_function = WasmEdge_FunctionInstanceCreate(type, wpy_nothing, NULL, 0);
    WasmEdge_FunctionTypeDelete(type);
}

/* A () -> () host function that does nothing, made once and never freed (NULL if out of memory). */
WasmEdge_FunctionInstanceContext *wpy_noop(void) {
    pthread_once(&wpy_noop_once, wpy_noop_init);
    return wpy_noop_function;
}

/* -- calls ------------------------------------------------------------------------------------- */

uint32_t wpy_invoke(const wpy_call *Call) {
    return WasmEdge_ResultGetCode(WasmEdge_ExecutorInvoke(Call->Executor, Call->Function, Call->Params,
                                                          Call->ParamLen, Call->Returns, Call->ReturnLen));
}

/* ExecutorInvoke on this thread, stopped by the engine (code 0x07) after ``Timeout`` seconds. */
static uint32_t wpy_invoke_function_timed(WasmEdge_ExecutorContext *Executor, WasmEdge_Async *Stop,
                                          const WasmEdge_FunctionInstanceContext *Function,
                                          const WasmEdge_Value *Params, uint32_t ParamLen, WasmEdge_Value *Returns,
                                          uint32_t ReturnLen, double Timeout) {
    wpy_armed entry;
    if (!wpy_arm(&entry, Stop, Timeout)) return WPY_NO_WATCHDOG;
    uint32_t code =
        WasmEdge_ResultGetCode(WasmEdge_ExecutorInvoke(Executor, Function, Params, ParamLen, Returns, ReturnLen));
    if (wpy_disarm(&entry)) WasmEdge_ExecutorInvoke(Executor, wpy_noop(), NULL, 0, NULL, 0);
    return code;
}

uint32_t wpy_invoke_timed(const wpy_call *Call, double Timeout) {
    return wpy_invoke_function_timed(Call->Executor, Call->Stop, Call->Function, Call->Params, Call->ParamLen,
                                     Call->Returns, Call->ReturnLen, Timeout);
}
