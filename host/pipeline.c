/* pipeline.c — next() is a host function advancing an index in the
 * request, never a neighbour pointer: so the host times each stage,
 * tells the watchdog where a request is, enforces a stage's concurrency
 * and timeout, catches a double next, and turns a failed stage into a 500
 * that names it. A urlmap node picks the chain by longest prefix. */
#include "pipeline.h"
#include "log.h"
#include "scoreboard.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cpu_timing;
void pipeline_set_cpu_timing(int on) { cpu_timing = on; }

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Stage clock. Two reads per stage made clock_gettime the largest part of
 * a pass-through stage, so on x86-64 with an invariant TSC the stages are
 * timed in TSC ticks, turned into nanoseconds only when timings are read.
 * The rate is measured against CLOCK_MONOTONIC once per process. */
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
static double ns_per_tick = 1.0;
static int use_tsc;

static void tsc_init(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
        return;                                  /* no invariant TSC */
    int64_t n0 = now_ns();
    uint64_t t0 = __rdtsc();
    struct timespec pause = {0, 5 * 1000000};
    nanosleep(&pause, NULL);
    int64_t n1 = now_ns();
    uint64_t t1 = __rdtsc();
    if (t1 <= t0 || n1 <= n0)
        return;
    ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    use_tsc = 1;
}

static inline int64_t stage_clock(void) { return use_tsc ? (int64_t)__rdtsc() : now_ns(); }
static inline int64_t clock_to_ns(int64_t ticks)
{
    return use_tsc ? (int64_t)((double)ticks * ns_per_tick) : ticks;
}
#else
static void tsc_init(void) {}
static inline int64_t stage_clock(void) { return now_ns(); }
static inline int64_t clock_to_ns(int64_t t) { return t; }
#endif

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
void pipeline_clock_init(void) { pthread_once(&clock_once, tsc_init); }

static int64_t cpu_ns(void)
{
    if (!cpu_timing)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- per-thread plugin slots ---- */

struct thread_slots {
    const struct runtime *rt;
    int n;
    void **slot;
    char *ready;
};

static __thread struct thread_slots *tslots;
__thread int strata_crash_stage = -1;      /* instance id of the running stage */
static pthread_key_t slots_key;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static void slots_free(void *p)
{
    struct thread_slots *t = p;
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        if (t->ready[i] == 1 && t->rt->inst[i]->p->thread_fini)
            t->rt->inst[i]->p->thread_fini(t->rt->inst[i]->inst, t->slot[i]);
    free(t->slot);
    free(t->ready);
    free(t);
}

static void slots_key_init(void) { pthread_key_create(&slots_key, slots_free); }

void pipeline_thread_exit(void)
{
    if (tslots) {
        pthread_setspecific(slots_key, NULL);
        slots_free(tslots);
        tslots = NULL;
    }
}

static struct thread_slots *slots_for(const struct runtime *rt)
{
    if (tslots && tslots->rt == rt)
        return tslots;
    pthread_once(&slots_once, slots_key_init);
    pipeline_thread_exit();
    struct thread_slots *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->rt = rt;
    t->n = rt->n_inst;
    t->slot = calloc((size_t)(t->n ? t->n : 1), sizeof *t->slot);
    t->ready = calloc((size_t)(t->n ? t->n : 1), 1);
    if (!t->slot || !t->ready) {
        free(t->slot);
        free(t->ready);
        free(t);
        return NULL;
    }
    tslots = t;
    pthread_setspecific(slots_key, t);
    return t;
}

void *pipeline_thread_data(struct strata_request *r)
{
    const struct runtime *rt = r->owner;
    struct thread_slots *t = rt ? slots_for(rt) : NULL;
    int id = strata_crash_stage;
    if (!t || id < 0 || id >= t->n)
        return NULL;
    if (!t->ready[id]) {
        const struct instance *in = rt->inst[id];
        t->ready[id] = 2;                        /* failed unless init says ok */
        if (!in->p->thread_init || in->p->thread_init(in->inst, &t->slot[id]) == STRATA_OK)
            t->ready[id] = 1;
    }
    return t->ready[id] == 1 ? t->slot[id] : NULL;
}

/* ---- the onion ---- */

static void fail(struct strata_request *r, const struct instance *in, int status,
                 const char *why)
{
    request_clear_response(r);
    const char *msg = status == 503 ? "503 Service Unavailable\n"
                      : status == 504 ? "504 Gateway Timeout\n"
                      : status == 404 ? "404 Not Found\n"
                                      : "500 Internal Server Error\n";
    request_respond(r, status, "text/plain; charset=utf-8", msg, strlen(msg));
    if (why)
        log_msg(STRATA_LOG_ERROR, "[%s] (plugin %s) %s: %s %s", in ? in->sec.name : "host",
                in ? in->p->name : "-", why, r->method, r->path);
}

static int run_urlmap(struct strata_request *r, const struct urlmap *m)
{
    const char *path = r->path;
    size_t plen = strlen(path);
    for (size_t i = 0; i < m->n; i++) {
        const struct mount *mt = &m->mounts[i];
        if (plen < mt->len || memcmp(path, mt->prefix, mt->len) != 0 ||
            (plen > mt->len && path[mt->len] != '/' && mt->len > 0))
            continue;
        const struct chain *saved_chain = r->chain;
        const char *saved_script = r->script_name, *saved_path = r->path;
        int saved_pos = r->pos;
        size_t sl = strlen(r->script_name);
        char *script = arena_alloc(&r->arena, sl + mt->len + 1);
        if (!script)
            return fail(r, NULL, 500, "out of memory"), STRATA_OK;
        memcpy(script, r->script_name, sl);
        memcpy(script + sl, mt->prefix, mt->len + 1);
        r->script_name = script;
        r->path = path + mt->len;        /* Paste's urlmap: "" when exactly the prefix */
        r->route = mt->len ? mt->prefix : "/";
        r->chain = mt->target;
        r->pos = -1;
        int rc = pipeline_next(r);
        r->chain = saved_chain;
        r->pos = saved_pos;
        r->script_name = saved_script;
        r->path = saved_path;
        return rc;
    }
    fail(r, NULL, 404, NULL);
    return STRATA_OK;
}

int pipeline_next(struct strata_request *r)
{
    int caller_t = r->cur_t;
    if (caller_t >= 0 && caller_t < REQUEST_MAX_DEPTH) {
        struct stage_timing *ct = &r->timings[caller_t];
        if (ct->next_called) {
            log_msg(STRATA_LOG_ERROR, "[%s] called next() twice for one request; ignored",
                    ct->inst ? ct->inst->sec.name : "?");
            return STRATA_OK;
        }
        ct->next_called = 1;
    }
    int pos = r->pos + 1;
    if (!r->chain || pos >= r->chain->n) {
        const struct instance *in = caller_t >= 0 ? r->timings[caller_t].inst : NULL;
        fail(r, in, 500, "called next() but there is no next stage (an app must answer)");
        return STRATA_OK;
    }
    const struct node *nd = &r->chain->nodes[pos];
    if (nd->kind == NODE_URLMAP) {
        /* The mount's first stage is this same next(): not a second call. */
        if (caller_t >= 0)
            r->timings[caller_t].next_called = 0;
        r->pos = pos;
        int rc = run_urlmap(r, nd->map);
        r->pos = pos - 1;
        if (caller_t >= 0)
            r->timings[caller_t].next_called = 1;
        return rc;
    }
    struct instance *in = nd->inst;
    if (in->blocking && !r->on_pool)
        return STRATA_YIELD;            /* never block an I/O thread */
    if (in->concurrency > 0) {
        if (atomic_fetch_add_explicit(&in->inflight, 1, memory_order_relaxed) >= in->concurrency) {
            atomic_fetch_sub_explicit(&in->inflight, 1, memory_order_relaxed);
            fail(r, in, 503, NULL);
            request_add_header(r, "Retry-After", "1");
            return STRATA_OK;
        }
    }
    int t_index = r->n_timings < REQUEST_MAX_DEPTH ? r->n_timings++ : -1;
    struct stage_timing *t = t_index >= 0 ? &r->timings[t_index] : NULL;
    int level = caller_t >= 0 ? r->timings[caller_t].level + 1 : 0;
    if (t) {                            /* every field, no memset: this is per stage */
        t->inst = in;
        t->level = level;
        t->next_called = 0;
        t->child_ns = t->child_cpu_ns = t->cpu_ns = 0;
        t->start_ns = stage_clock();
        t->cpu_start_ns = cpu_timing ? cpu_ns() : 0;
    }
    int saved_stage = strata_crash_stage;
    strata_crash_stage = in->id;
    r->pos = pos;
    r->cur_t = t_index;
    scoreboard_stage(in->id);

    int rc = in->p->handle(in->inst, r);

    strata_crash_stage = saved_stage;
    r->pos = pos - 1;
    r->cur_t = caller_t;
    scoreboard_stage(saved_stage);
    if (t) {
        t->total_ns = stage_clock() - t->start_ns;
        if (t->total_ns <= 0)
            t->total_ns = 1;                 /* a tick at least: "finished" */
        if (cpu_timing)
            t->cpu_ns = cpu_ns() - t->cpu_start_ns;
        if (caller_t >= 0) {
            r->timings[caller_t].child_ns += t->total_ns;
            r->timings[caller_t].child_cpu_ns += t->cpu_ns;
        }
    }
    if (in->concurrency > 0)
        atomic_fetch_sub_explicit(&in->inflight, 1, memory_order_relaxed);
    if (rc == STRATA_YIELD) {
        if (!r->on_pool)
            return STRATA_YIELD;
        fail(r, in, 500, "returned STRATA_YIELD on a pool thread");
    } else if (rc != STRATA_OK) {
        fail(r, in, 500, "failed");
    } else if (r->status == 0) {
        fail(r, in, 500, "returned without an answer");
    } else if (in->timeout_ns > 0 && t && clock_to_ns(t->total_ns) > in->timeout_ns) {
        log_msg(STRATA_LOG_WARN, "[%s] took %.3f s, over its timeout of %.3f s: answered 504",
                in->sec.name, (double)clock_to_ns(t->total_ns) / 1e9, in->timeout);
        fail(r, in, 504, NULL);
    }
    return STRATA_OK;
}

int pipeline_run(struct strata_request *r, const struct runtime *rt)
{
    pipeline_clock_init();
    r->owner = (void *)rt;
    r->chain = rt->entry;
    r->pos = -1;
    r->cur_t = -1;
    r->route = "/";
    int rc = pipeline_next(r);
    if (rc == STRATA_YIELD)
        return rc;
    scoreboard_stage(-1);
    return STRATA_OK;
}

void pipeline_complete(struct strata_request *r, int sent_ok)
{
    const struct runtime *rt = r->owner;
    if (!rt)
        return;
    for (int i = 0; i < r->n_timings; i++) {
        const struct instance *in = r->timings[i].inst;
        if (in && in->p->on_complete) {
            int saved = strata_crash_stage;
            strata_crash_stage = in->id;
            in->p->on_complete(in->inst, r, sent_ok);
            strata_crash_stage = saved;
        }
    }
}

int pipeline_timings(struct strata_request *r, strata_timing *out, int max)
{
    int n = 0;
    for (int i = 0; i < r->n_timings && n < max; i++, n++) {
        const struct stage_timing *t = &r->timings[i];
        int64_t total = clock_to_ns(t->total_ns ? t->total_ns : stage_clock() - t->start_ns);
        int64_t self = total - clock_to_ns(t->child_ns);
        out[n].section = t->inst->sec.name;
        out[n].plugin = t->inst->p->name;
        out[n].depth = t->level;
        out[n].total_ns = total;
        out[n].self_ns = self > 0 ? self : 0;
        out[n].cpu_ns = t->cpu_ns - t->child_cpu_ns;
    }
    return n;
}

void pipeline_mark_start(struct strata_request *r)
{
    pipeline_clock_init();
    r->start_ns = now_ns();
    r->start_tick = stage_clock();
}

int64_t pipeline_elapsed_ns(struct strata_request *r)
{
    int64_t d;
    if (r->start_tick)
        d = clock_to_ns(stage_clock() - r->start_tick);
    else
        d = r->start_ns > 0 ? now_ns() - r->start_ns : 0;
    return d > 0 ? d : 0;
}

int pipeline_stage_depth(struct strata_request *r)
{
    return r->cur_t >= 0 ? r->timings[r->cur_t].level : 0;
}
