/* Native worker threads for whole lifecycles (wasmedge_py/native_workers.py drives them): a job
 * runs ``wpy_lifecycle_run(Lifecycle, Until)`` on a pthread owned by the extension, and its
 * channel's eventfd wakes the owner (an event loop's reader) once the job is done, so a request
 * needs no Python thread and no GIL handoff unless Python code must run (a cffi host function
 * takes the GIL itself).
 *
 * Threads are started as needed (a job finding no idle thread starts one) and never end: the
 * owner bounds how many jobs run at once, and so the threads. A channel collects its done jobs
 * and is freed once closed and without jobs in flight. After fork the child has no threads, no
 * jobs and no channels (a pthread_atfork handler forgets them). */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>

typedef struct wpy_channel wpy_channel;
struct wpy_job;

/* What a channel hands back: a job answered (its stages through AnswerAfter are done, the rest
 * still runs) or done. */
typedef struct wpy_event {
    struct wpy_job *Job;
    uint32_t Kind; /* WPY_EVENT_* */
    struct wpy_event *Next;
} wpy_event;

#define WPY_EVENT_ANSWERED 0
#define WPY_EVENT_DONE 1

typedef struct wpy_job {
    /* Set by the owner. */
    wpy_lifecycle *Lifecycle;
    uint32_t Until;
    uint32_t AnswerAfter; /* < Until: an ANSWERED event once the stages through it are done */
    wpy_channel *Channel;
    /* The plugin's files, checked before anything runs (Dir NULL: no check): ``Dir`` (a symlink is
     * followed one level, relative to ``Root``, as Registry._directory does) holds ``Wasm`` and
     * maybe ``Manifest``, whose (st_dev, st_ino, st_size, st_mtime_ns) must be ``Expect`` (the
     * manifest's: Expect[4..7], or absent unless ``ExpectManifest``). Else: WPY_JOB_STALE. */
    const char *Dir;
    const char *Root;
    const char *Wasm;
    const char *Manifest;
    uint64_t Expect[8];
    uint32_t ExpectManifest;
    volatile uint32_t Checked; /* 1 once the check has returned (the owner's store timeout reads it) */
    /* Set by the worker. */
    uint32_t Status;
    uint64_t CpuNs; /* CPU time of the worker thread spent on the job (RunUsage.cpu_seconds) */
    wpy_event Answered;
    wpy_event Done;
    struct wpy_job *Next;
} wpy_job;

struct wpy_channel {
    int Fd;
    uint32_t InFlight; /* jobs submitted whose DONE event has not been taken */
    int Closed;
    wpy_event *Events; /* newest first */
};

static pthread_mutex_t wpy_w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wpy_w_wake = PTHREAD_COND_INITIALIZER;
static wpy_job *wpy_w_head, *wpy_w_tail;
static uint32_t wpy_w_idle, wpy_w_threads;
static pthread_once_t wpy_w_once = PTHREAD_ONCE_INIT;

static uint64_t wpy_w_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void wpy_w_after_fork_child(void) {
    pthread_mutex_init(&wpy_w_lock, NULL);
    pthread_cond_init(&wpy_w_wake, NULL);
    wpy_w_head = wpy_w_tail = NULL; /* the parent's jobs: not ours */
    wpy_w_idle = wpy_w_threads = 0;
}

static void wpy_w_init(void) { pthread_atfork(NULL, NULL, wpy_w_after_fork_child); }

static void wpy_w_free_channel(wpy_channel *C) {
    close(C->Fd);
    free(C);
}

/* Hand an event to the job's channel, waking its reader if nothing was pending; a closed
 * channel drops it (and is freed with its last job). */
static void wpy_w_post(wpy_job *job, wpy_event *event, uint32_t kind) {
    wpy_channel *channel = job->Channel;
    event->Job = job;
    event->Kind = kind;
    pthread_mutex_lock(&wpy_w_lock);
    if (channel->Closed) {
        int free_now = kind == WPY_EVENT_DONE && --channel->InFlight == 0;
        pthread_mutex_unlock(&wpy_w_lock);
        if (free_now) wpy_w_free_channel(channel);
        return;
    }
    int wake = channel->Events == NULL; /* else a wake-up is pending already */
    event->Next = channel->Events;
    channel->Events = event;
    pthread_mutex_unlock(&wpy_w_lock);
    if (wake) {
        uint64_t one = 1;
        while (write(channel->Fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

#define WPY_JOB_STALE 100 /* the files are not the expected version (or cannot be stat-ed): nothing ran */

static int wpy_w_same_file(const char *dir, const char *file, const uint64_t *expect, int present) {
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) return 0;
    if (stat(path, &st) != 0) return !present && errno == ENOENT;
    return present && (uint64_t)st.st_dev == expect[0] && (uint64_t)st.st_ino == expect[1] &&
           (uint64_t)st.st_size == expect[2] &&
           (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec == expect[3];
}

/* Whether the job's files are still the version it expects (Registry._identity, in C). */
static int wpy_w_files_unchanged(const wpy_job *job) {
    char link[PATH_MAX], dir[PATH_MAX];
    ssize_t n = readlink(job->Dir, link, sizeof link - 1);
    const char *where = job->Dir;
    if (n >= 0) {
        link[n] = 0;
        if (link[0] == '/') where = link;
        else if (snprintf(dir, sizeof dir, "%s/%s", job->Root, link) < (int)sizeof dir) where = dir;
        else return 0;
    }
    return wpy_w_same_file(where, job->Wasm, job->Expect, 1) &&
           wpy_w_same_file(where, job->Manifest, job->Expect + 4, (int)job->ExpectManifest);
}

static void *wpy_w_main(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&wpy_w_lock);
        wpy_w_idle++;
        while (wpy_w_head == NULL) pthread_cond_wait(&wpy_w_wake, &wpy_w_lock);
        wpy_w_idle--;
        wpy_job *job = wpy_w_head;
        wpy_w_head = job->Next;
        if (wpy_w_head == NULL) wpy_w_tail = NULL;
        pthread_mutex_unlock(&wpy_w_lock);

        uint64_t started = wpy_w_cpu_ns();
        uint32_t status = WPY_LC_OK;
        if (job->Dir != NULL) {
            if (!wpy_w_files_unchanged(job)) status = WPY_JOB_STALE;
            job->Checked = 1;
        }
        if (status == WPY_LC_OK && job->AnswerAfter < job->Until) {
            status = wpy_lifecycle_run(job->Lifecycle, job->AnswerAfter);
            if (status == WPY_LC_OK) wpy_w_post(job, &job->Answered, WPY_EVENT_ANSWERED);
        }
        if (status == WPY_LC_OK) status = wpy_lifecycle_run(job->Lifecycle, job->Until);
        job->Status = status;
        job->CpuNs += wpy_w_cpu_ns() - started;
        wpy_w_post(job, &job->Done, WPY_EVENT_DONE);
    }
    return NULL;
}

/* A channel: its file descriptor becomes readable when one of its jobs is done. NULL on failure. */
wpy_channel *wpy_channel_new(void) {
    pthread_once(&wpy_w_once, wpy_w_init);
    wpy_channel *channel = calloc(1, sizeof *channel);
    if (channel == NULL) return NULL;
    channel->Fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (channel->Fd < 0) {
        free(channel);
        return NULL;
    }
    return channel;
}

int wpy_channel_fd(const wpy_channel *Channel) { return Channel->Fd; }

/* No more jobs on it: freed now, or when its last job in flight is done (its result is dropped). */
void wpy_channel_close(wpy_channel *Channel) {
    pthread_mutex_lock(&wpy_w_lock);
    Channel->Closed = 1;
    for (wpy_event *e = Channel->Events; e != NULL; e = e->Next) /* dropped */
        if (e->Kind == WPY_EVENT_DONE) Channel->InFlight--;
    Channel->Events = NULL;
    int free_now = Channel->InFlight == 0;
    pthread_mutex_unlock(&wpy_w_lock);
    if (free_now) wpy_w_free_channel(Channel);
}

/* Queue a job for a worker thread (one is started if none is idle): 0, or -1 if no thread could
 * be started and none exists (the job is not queued). */
int wpy_job_submit(wpy_job *Job) {
    pthread_once(&wpy_w_once, wpy_w_init);
    Job->Next = NULL;
    pthread_mutex_lock(&wpy_w_lock);
    if (wpy_w_idle == 0) {
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, wpy_w_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed && wpy_w_threads == 0) {
            pthread_mutex_unlock(&wpy_w_lock);
            return -1;
        }
        if (!failed) wpy_w_threads++;
    }
    Job->Channel->InFlight++;
    if (wpy_w_tail != NULL) wpy_w_tail->Next = Job;
    else wpy_w_head = Job;
    wpy_w_tail = Job;
    pthread_cond_signal(&wpy_w_wake);
    pthread_mutex_unlock(&wpy_w_lock);
    return 0;
}

/* The channel's events, oldest first, up to ``Max`` (call again while it returns ``Max``). */
uint32_t wpy_channel_take(wpy_channel *Channel, wpy_event **Events, uint32_t Max) {
    uint64_t count;
    while (read(Channel->Fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    pthread_mutex_lock(&wpy_w_lock);
    uint32_t total = 0, n = 0;
    for (wpy_event *e = Channel->Events; e != NULL; e = e->Next) total++;
    wpy_event **cut = &Channel->Events; /* the oldest ``Max`` are the list's tail */
    for (uint32_t skip = total > Max ? total - Max : 0; skip > 0; skip--) cut = &(*cut)->Next;
    wpy_event *oldest = *cut;
    *cut = NULL;
    for (wpy_event *e = oldest; e != NULL; e = e->Next) {
        n++;
        if (e->Kind == WPY_EVENT_DONE) Channel->InFlight--;
    }
    pthread_mutex_unlock(&wpy_w_lock);
    for (uint32_t i = n; i > 0; i--) { /* newest first in the list: fill from the end */
        Events[i - 1] = oldest;
        oldest = oldest->Next;
    }
    if (total > Max) { /* more are pending: stay readable */
        uint64_t one = 1;
        while (write(Channel->Fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
    return n;
}

/* Worker threads started so far (tests: they exist only once a native job has run). */
uint32_t wpy_workers_started(void) {
    pthread_mutex_lock(&wpy_w_lock);
    uint32_t n = wpy_w_threads;
    pthread_mutex_unlock(&wpy_w_lock);
    return n;
}
