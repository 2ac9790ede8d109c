/* prof.h — the profiling filter's data, shared by its files.
 *
 * Writers: every pipeline thread owns a `prof_thread` (its thread_data
 * slot) and is the only one to write its histograms. Readers (the report
 * page) walk the list of slots under `lock` and merge. Names (stages,
 * routes) live in two small tables that grow under a mutex only when a
 * new name first appears, at most their capacity's worth of times; the
 * request path looks names up without locking. */
#ifndef PROF_H
#define PROF_H
#include "hist.h"
#include "strata.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define PROF_MAX_STAGES 64      /* distinct sections; beyond: "other"   */
#define PROF_MAX_TIMINGS 64     /* stages of one request looked at      */

/* Name table: id -> name, lock-free lookup, locked insert. The id equal
 * to `cap` is the "other" bucket. */
struct name {
    uint32_t hash;
    char *key;                  /* "GET /api" or "app:static"           */
    char *a, *b;                /* method, route / section, plugin      */
    char *pre, *suf;            /* stages: their Server-Timing text,     */
    size_t pre_len, suf_len;    /* "app-static;dur=" and ";desc=..., "  */
};

struct names {
    int cap;
    int fragments;              /* build pre/suf for new names          */
    unsigned mask;              /* slots - 1                            */
    _Atomic int n;
    _Atomic int *slots;         /* id + 1; 0 = empty                    */
    struct name *e;             /* cap entries                          */
    pthread_mutex_t lock;
};

/* Per route and stage: the stage's share of the route's time. */
struct cell {
    _Atomic uint64_t n, self_ns, cpu_ns;
};

/* Per-thread memos in front of the name tables, so a request resolves
 * its stages and route without hashing names: section names are the
 * host's, fixed for the instance's life, so their address is the key;
 * a route is checked against its entry's text as well, since a plugin
 * may set the variable to a string of its own. */
#define PROF_MEMO 16            /* entries each, direct-mapped          */

struct prof_thread {
    struct prof_thread *next;
    struct { const char *section; int id; } stage_memo[PROF_MEMO];
    struct { const char *route, *method; int id; } route_memo[PROF_MEMO];
    _Atomic unsigned epoch;     /* the reset it has applied             */
    uint64_t rng;
    _Atomic(hist *) *stage;     /* PROF_MAX_STAGES + 1                  */
    _Atomic(hist *) *route;     /* max_routes + 1                       */
    _Atomic(struct cell *) *cells;   /* per route: PROF_MAX_STAGES + 1  */
};

struct prof_config {
    const char *path;
    int server_timing;
    double slow_ms;
    double sample;
    int64_t max_routes;
};

struct prof {
    const strata_section *sec;
    const struct prof_config *cfg;
    struct names stages, routes;
    pthread_mutex_t lock;       /* the thread list                      */
    struct prof_thread *threads;
    _Atomic unsigned epoch;     /* bumped by a reset                    */
    _Atomic int64_t since_unix_us;
};

/* One request's downstream stage, as the filter saw it. */
struct prof_stage {
    const char *section, *plugin;
    int depth;
    int64_t self_ns, total_ns, cpu_ns;
    int id1;                    /* id in prof.stages + 1; 0: look it up */
    const char *pre, *suf;      /* cached header text, or NULL          */
    size_t pre_len, suf_len;
};

int names_init(struct names *t, int cap);
void names_fini(struct names *t);
/* The id of `key` (adding it with a and b when new), or t->cap. */
int names_id(struct names *t, const char *key, const char *a, const char *b);
/* The stage's id, filling its cached header text into *st; through the
 * thread's memo when t is not NULL. */
void prof_stage_resolve(struct prof *p, struct prof_thread *t, struct prof_stage *st);

int prof_init(struct prof *p, int max_routes);
void prof_fini(struct prof *p);
struct prof_thread *prof_thread_new(struct prof *p);
/* Aggregate one request on the calling thread's slot. */
void prof_record(struct prof *p, struct prof_thread *t, const char *method, const char *route,
                 int status, int64_t total_ns, const struct prof_stage *st, int n);
void prof_reset(struct prof *p, int64_t now_unix_us);

/* A merged read of everything, for the renderers. */
struct stage_view {
    const char *section, *plugin;
    hist_snap h;
};

struct route_view {
    const char *method, *route;
    hist_snap h;
    struct { uint64_t n, self_ns, cpu_ns; } *cells;   /* n_stages       */
};

struct prof_view {
    const char *title;          /* the section, "filter:profiling"      */
    int64_t since_unix_us, now_unix_us;
    double sample;
    int n_stages, n_routes;     /* routes sorted by count, busiest first */
    struct stage_view *stages;
    struct route_view *routes;
};

int prof_view_make(struct prof *p, struct prof_view *v);
void prof_view_free(struct prof_view *v);

/* Renderers (render.c): return 0, or -1 when out of memory. */
struct sbuf;
void prof_render_json(const struct prof_view *v, struct sbuf *b);
void prof_render_prometheus(const struct prof_view *v, struct sbuf *b);
void prof_render_html(const struct prof_view *v, struct sbuf *b);

/* The Server-Timing value for these stages and total (in `out`, `cap`
 * bytes); returns its length, 0 if it did not fit. The `cpu` metric is
 * left out when cpu_ns is 0 (the host measures no CPU time). */
size_t prof_server_timing(char *out, size_t cap, const struct prof_stage *st, int n,
                          int64_t total_ns, int64_t cpu_ns);
/* "app:static" -> "app-static": an RFC 9110 token. */
void prof_token(char *out, size_t cap, const char *name);
#endif
