/* scoreboard.c — see scoreboard.h. One anonymous shared mapping; when no
 * supervisor made one (strata check --request, unit tests) a private one
 * is made on first use. */
#include "scoreboard.h"
#include "request.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct sb_thread {
    _Atomic uint32_t seq;         /* odd while the text is being written */
    _Atomic int busy;
    _Atomic int stage;
    _Atomic int64_t start_ns;
    _Atomic uint64_t requests;
    _Atomic uint64_t by_class[6];
    char request[STRATA_INFO_TEXT];
    char client[64];
};

struct sb_worker {
    _Atomic int pid;
    _Atomic int generation;
    _Atomic int64_t started_unix;
    _Atomic int n_threads;        /* slots registered                    */
    _Atomic int threads;          /* configured pool size                */
    _Atomic int queue_depth, queue_limit, connections;
    _Atomic int crash_thread;     /* slot that faulted, or -1      */
    int n_stages;
    char stages[SB_STAGES][48];
    char plugins[SB_STAGES][32];
    struct sb_thread th[SB_THREADS];
};

struct scoreboard {
    struct sb_worker w[SB_WORKERS];
};

static struct scoreboard *sb;
static int my_worker;
static __thread struct sb_thread *me;
__thread _Atomic int *scoreboard_stage_slot;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int scoreboard_create(void)
{
    if (sb)
        return 0;
    void *p = mmap(NULL, sizeof *sb, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    sb = p;
    return 0;
}

void scoreboard_worker_start(int idx, int generation, int threads, int queue_limit,
                             const char *const *names, const char *const *plugins, int n)
{
    if (scoreboard_create() || idx < 0 || idx >= SB_WORKERS)
        return;
    my_worker = idx;
    struct sb_worker *w = &sb->w[idx];
    memset(w->th, 0, sizeof w->th);
    atomic_store(&w->n_threads, 0);
    atomic_store(&w->threads, threads);
    atomic_store(&w->queue_limit, queue_limit);
    atomic_store(&w->queue_depth, 0);
    atomic_store(&w->connections, 0);
    atomic_store(&w->generation, generation);
    atomic_store(&w->started_unix, (int64_t)time(NULL));
    w->n_stages = n < SB_STAGES ? n : SB_STAGES;
    atomic_store(&w->crash_thread, -1);
    for (int i = 0; i < w->n_stages; i++) {
        snprintf(w->stages[i], sizeof w->stages[i], "%s", names[i]);
        snprintf(w->plugins[i], sizeof w->plugins[i], "%s", plugins ? plugins[i] : "");
    }
    atomic_store(&w->pid, (int)getpid());
}

void scoreboard_worker_clear(int idx)
{
    if (sb && idx >= 0 && idx < SB_WORKERS)
        atomic_store(&sb->w[idx].pid, 0);
}

static struct sb_thread *slot(void)
{
    if (me)
        return me;
    if (!sb && scoreboard_create())
        return NULL;
    struct sb_worker *w = &sb->w[my_worker];
    int i = atomic_fetch_add(&w->n_threads, 1);
    if (i >= SB_THREADS)
        return NULL;
    me = &w->th[i];
    scoreboard_stage_slot = &me->stage;
    return me;
}

/* Seqlock writer/reader: the text fields are plain bytes guarded by seq. */
__attribute__((no_sanitize("thread")))
void scoreboard_begin(const struct strata_request *r)
{
    struct sb_thread *t = slot();
    if (!t)
        return;
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_acq_rel);
    /* "METHOD /path": never the query string, which may hold secrets */
    size_t cap = sizeof t->request - 1, n = 0;
    const char *m = r->method ? r->method : "?", *u = r->uri ? r->uri : "";
    size_t ml = strlen(m), ul = strcspn(u, "?");
    if (ml > 16)
        ml = 16;
    memcpy(t->request, m, ml);
    n = ml;
    t->request[n++] = ' ';
    if (ul > cap - n)
        ul = cap - n;
    memcpy(t->request + n, u, ul);
    t->request[n + ul] = '\0';
    const char *c = r->client ? r->client : "";
    size_t cl = strnlen(c, sizeof t->client - 1);
    memcpy(t->client, c, cl);
    t->client[cl] = '\0';
    atomic_store_explicit(&t->start_ns, r->start_ns, memory_order_relaxed);
    atomic_store_explicit(&t->stage, -1, memory_order_relaxed);
    atomic_store_explicit(&t->busy, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->seq, 1, memory_order_release);
}


void scoreboard_end(int status)
{
    struct sb_thread *t = me;
    if (!t)
        return;
    atomic_store_explicit(&t->busy, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->requests, 1, memory_order_relaxed);
    int c = status / 100;
    atomic_fetch_add_explicit(&t->by_class[c >= 1 && c <= 5 ? c : 0], 1, memory_order_relaxed);
}

void scoreboard_handoff(void)
{
    if (me)
        atomic_store_explicit(&me->busy, 0, memory_order_relaxed);
}

void scoreboard_queue(int depth)
{
    if (sb)
        atomic_store_explicit(&sb->w[my_worker].queue_depth, depth, memory_order_relaxed);
}

void scoreboard_connections(int delta)
{
    if (sb)
        atomic_fetch_add_explicit(&sb->w[my_worker].connections, delta, memory_order_relaxed);
}

__attribute__((no_sanitize("thread")))
static int read_thread(const struct sb_thread *t, strata_thread_info *o)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t s1 = atomic_load_explicit(&t->seq, memory_order_acquire);
        if (s1 & 1)
            continue;
        memcpy(o->request, t->request, sizeof o->request);
        memcpy(o->client, t->client, sizeof o->client);
        o->request[sizeof o->request - 1] = o->client[sizeof o->client - 1] = '\0';
        o->busy = atomic_load_explicit(&t->busy, memory_order_relaxed);
        int64_t st = atomic_load_explicit(&t->start_ns, memory_order_relaxed);
        o->elapsed_us = o->busy ? (mono_ns() - st) / 1000 : 0;
        o->requests = atomic_load_explicit(&t->requests, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s1)
            return 0;
    }
    return -1;
}

int scoreboard_workers(strata_worker_info *out, int max)
{
    int n = 0;
    for (int i = 0; sb && i < SB_WORKERS && n < max; i++) {
        struct sb_worker *w = &sb->w[i];
        int pid = atomic_load(&w->pid);
        if (!pid)
            continue;
        strata_worker_info *o = &out[n++];
        memset(o, 0, sizeof *o);
        o->worker = i;
        o->pid = pid;
        o->started_unix = atomic_load(&w->started_unix);
        o->threads = atomic_load(&w->threads);
        o->queue_depth = atomic_load(&w->queue_depth);
        o->queue_limit = atomic_load(&w->queue_limit);
        o->connections = atomic_load(&w->connections);
        o->generation = atomic_load(&w->generation);
        int nt = atomic_load(&w->n_threads);
        for (int k = 0; k < nt && k < SB_THREADS; k++) {
            o->requests += atomic_load_explicit(&w->th[k].requests, memory_order_relaxed);
            for (int c = 0; c < 6; c++)
                o->by_class[c] += atomic_load_explicit(&w->th[k].by_class[c], memory_order_relaxed);
        }
    }
    return n;
}

int scoreboard_threads(strata_thread_info *out, int max)
{
    int n = 0;
    for (int i = 0; sb && i < SB_WORKERS; i++) {
        struct sb_worker *w = &sb->w[i];
        int pid = atomic_load(&w->pid);
        if (!pid)
            continue;
        int nt = atomic_load(&w->n_threads);
        for (int k = 0; k < nt && k < SB_THREADS && n < max; k++) {
            strata_thread_info *o = &out[n];
            memset(o, 0, sizeof *o);
            if (read_thread(&w->th[k], o))
                continue;
            o->worker = i;
            o->pid = pid;
            o->thread = k;
            int st = atomic_load_explicit(&w->th[k].stage, memory_order_relaxed);
            if (o->busy && st >= 0 && st < w->n_stages)
                snprintf(o->stage, sizeof o->stage, "%s", w->stages[st]);
            if (!o->busy)
                o->request[0] = o->client[0] = '\0';
            n++;
        }
    }
    return n;
}

static void describe(const struct sb_worker *w, const struct sb_thread *t,
                     const strata_thread_info *o, char *what, size_t len)
{
    int st = atomic_load(&t->stage);
    if (st >= 0 && st < w->n_stages && w->plugins[st][0])
        snprintf(what, len, "'%s' from %s in [%s] (plugin %s)", o->request, o->client,
                 w->stages[st], w->plugins[st]);
    else
        snprintf(what, len, "'%s' from %s in %s", o->request, o->client,
                 st >= 0 && st < w->n_stages ? w->stages[st] : "the host");
}

double scoreboard_oldest(int idx, char *what, size_t len)
{
    if (!sb || idx < 0 || idx >= SB_WORKERS)
        return 0;
    struct sb_worker *w = &sb->w[idx];
    double oldest = 0;
    int nt = atomic_load(&w->n_threads);
    for (int k = 0; k < nt && k < SB_THREADS; k++) {
        strata_thread_info o;
        if (read_thread(&w->th[k], &o) || !o.busy)
            continue;
        double age = (double)o.elapsed_us / 1e6;
        if (age > oldest) {
            oldest = age;
            describe(w, &w->th[k], &o, what, len);
        }
    }
    return oldest;
}

void scoreboard_crash_mark(void)
{
    if (sb && me)
        atomic_store(&sb->w[my_worker].crash_thread, (int)(me - sb->w[my_worker].th));
}

void scoreboard_crash_report(int idx, char *what, size_t len)
{
    what[0] = '\0';
    if (!sb || idx < 0 || idx >= SB_WORKERS || !atomic_load(&sb->w[idx].pid))
        return;
    struct sb_worker *w = &sb->w[idx];
    int k = atomic_load(&w->crash_thread);
    strata_thread_info o;
    if (k >= 0 && k < SB_THREADS && read_thread(&w->th[k], &o) == 0 && o.busy)
        describe(w, &w->th[k], &o, what, len);
    else
        scoreboard_oldest(idx, what, len);
}

uint64_t scoreboard_requests(int idx)
{
    uint64_t n = 0;
    if (!sb || idx < 0 || idx >= SB_WORKERS)
        return 0;
    struct sb_worker *w = &sb->w[idx];
    int nt = atomic_load(&w->n_threads);
    for (int k = 0; k < nt && k < SB_THREADS; k++)
        n += atomic_load_explicit(&w->th[k].requests, memory_order_relaxed);
    return n;
}
