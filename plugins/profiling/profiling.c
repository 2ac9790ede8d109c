/* profiling.c — where the time goes: a Server-Timing header on every
 * answer, and latency aggregates per stage and per route served at
 * `path` as HTML, JSON and Prometheus text.
 *
 * The host times every stage itself; this filter only reads
 * strata->timings() after next() returns, so the stages below it are
 * complete. Aggregation is per thread (thread_data) and merged when the
 * report is read: no lock and no shared write on the request path. */
#include "strata.h"
#include "textbuf.h"
#include "prof.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

STRATA_HOST_DECLARE;

/* ---- options ---- */

static const strata_option prof_options[] = {
    { "path", STRATA_OPT_STRING, "/__profile", 0, offsetof(struct prof_config, path),
      "where the report is served, below the mount", NULL },
    { "server_timing", STRATA_OPT_BOOL, "true", 0, offsetof(struct prof_config, server_timing),
      "add a Server-Timing header with each downstream stage", NULL },
    { "slow_ms", STRATA_OPT_DOUBLE, "0", 0, offsetof(struct prof_config, slow_ms),
      "log requests slower than this (milliseconds) with their stages; 0 = off", "0.." },
    { "sample", STRATA_OPT_DOUBLE, "1", 0, offsetof(struct prof_config, sample),
      "share of requests aggregated; the header is always added", "0..1" },
    { "max_routes", STRATA_OPT_INT, "64", 0, offsetof(struct prof_config, max_routes),
      "distinct method+route pairs kept; the rest count as 'other'", "1..4096" },
    STRATA_OPTIONS_END
};

/* ---- create / destroy ---- */

static int prof_create(const strata_section *sec, const void *config, void **out)
{
    const struct prof_config *cfg = config;
    if (!cfg->path || cfg->path[0] != '/') {
        strata->config_error(sec, "path", "must start with '/', got '%s'",
                             cfg->path ? cfg->path : "");
        return STRATA_ERROR;
    }
    struct prof *p = calloc(1, sizeof *p);
    if (!p || prof_init(p, (int)cfg->max_routes)) {
        free(p);
        strata->config_error(sec, "max_routes", "out of memory");
        return STRATA_ERROR;
    }
    p->sec = sec;
    p->cfg = cfg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&p->since_unix_us, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    *out = p;
    return STRATA_OK;
}

static void prof_destroy(void *inst)
{
    struct prof *p = inst;
    prof_fini(p);
    free(p);
}

/* Slots stay with the instance until destroy: a thread that goes away
 * keeps its share of the totals. */
static int prof_thread_init(void *inst, void **slot)
{
    *slot = prof_thread_new(inst);
    return *slot ? STRATA_OK : STRATA_ERROR;
}

/* ---- the report ---- */

static int prof_serve(struct prof *p, strata_request *req)
{
    const char *m = strata->method(req);
    const char *fmt = strata->query_arg(req, "format");
    const char *reset = strata->query_arg(req, "reset");
    strata->set_header(req, "Cache-Control", "no-store");
    if (strcmp(m, "POST") == 0) {
        if (!reset || strcmp(reset, "1") != 0)
            return strata->respond(req, 400, "text/plain; charset=utf-8",
                                   "POST needs ?reset=1\n", 20);
        prof_reset(p, strata->start_unix_us(req));
        const char *self = strata->sprintf(req, "%s%s", strata->script_name(req),
                                           strata->path(req));
        strata->set_header(req, "Location", self);
        return strata->respond(req, 303, "text/plain; charset=utf-8", "reset\n", 6);
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        strata->set_header(req, "Allow", "GET, HEAD, POST");
        return strata->respond(req, 405, "text/plain; charset=utf-8",
                               "method not allowed\n", 19);
    }
    if (fmt && strcmp(fmt, "json") && strcmp(fmt, "prometheus") && strcmp(fmt, "html"))
        return strata->respond(req, 400, "text/plain; charset=utf-8",
                               "format: expected html, json or prometheus\n", 42);
    struct prof_view v;
    if (prof_view_make(p, &v))
        return STRATA_ERROR;
    v.title = strata->section_name(p->sec);
    v.now_unix_us = strata->start_unix_us(req);
    v.sample = p->cfg->sample;
    sbuf b = { 0 };
    const char *ctype;
    if (fmt && strcmp(fmt, "json") == 0) {
        prof_render_json(&v, &b);
        ctype = "application/json";
    } else if (fmt && strcmp(fmt, "prometheus") == 0) {
        prof_render_prometheus(&v, &b);
        ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        prof_render_html(&v, &b);
        ctype = "text/html; charset=utf-8";
    }
    prof_view_free(&v);
    if (b.oom) {
        sb_free(&b);
        return STRATA_ERROR;
    }
    size_t len;
    char *body = sb_take(&b, &len);
    strata->set_status(req, 200);
    strata->set_header(req, "Content-Type", ctype);
    if (strata->set_body(req, body, len, STRATA_BODY_FREE) != STRATA_OK) {
        free(body);
        return STRATA_ERROR;
    }
    return STRATA_OK;
}

/* ---- the request ---- */

static int sampled(struct prof_thread *t, double share)
{
    if (share >= 1)
        return 1;
    if (share <= 0)
        return 0;
    /* xorshift64*: per thread, no shared state. */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    uint64_t r = t->rng * 0x2545f4914f6cdd1dull;
    return (double)(r >> 11) * (1.0 / 9007199254740992.0) < share;
}

/* One line naming each stage: "slow request GET /x 812.3 ms (cpu 1.2 ms):
 * filter:auth 0.1 ms (cpu 0.1), app:static 812.0 ms (cpu 1.1)". The path
 * is printed without its query (it may carry credentials) and with
 * control characters replaced. */
static void log_slow(struct prof *p, strata_request *req, const struct prof_stage *st, int n,
                     int64_t total_ns, int64_t cpu_ns)
{
    char line[1024], path[256];
    const char *sn = strata->script_name(req), *pa = strata->path(req);
    snprintf(path, sizeof path, "%s%s", sn ? sn : "", pa ? pa : "");
    for (char *c = path; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    size_t k = 0;
    int w = snprintf(line, sizeof line, "slow request %s %s %.1f ms (cpu %.1f ms), status %d:",
                     strata->method(req), path, (double)total_ns / 1e6, (double)cpu_ns / 1e6,
                     strata->status(req));
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < n && k < sizeof line; i++) {
        w = snprintf(line + k, sizeof line - k, "%s %s %.1f ms (cpu %.1f)", i ? "," : "",
                     st[i].section, (double)st[i].self_ns / 1e6, (double)st[i].cpu_ns / 1e6);
        if (w < 0)
            break;
        k += (size_t)w;
    }
    strata->log(p->sec, STRATA_LOG_WARN, "%s", line);
}

static int prof_handle(void *inst, strata_request *req)
{
    struct prof *p = inst;
    const char *path = strata->path(req);
    if (path && strcmp(path, p->cfg->path) == 0)
        return prof_serve(p, req);

    int rc = strata->next(req);
    if (rc != STRATA_OK)
        return rc;          /* STRATA_YIELD: untouched, the host re-runs us */

    int64_t start = strata->start_ns(req);
    strata_timing tm[PROF_MAX_TIMINGS];
    struct prof_stage st[PROF_MAX_TIMINGS];
    int nt = strata->timings(req, tm, PROF_MAX_TIMINGS);
    if (nt > PROF_MAX_TIMINGS)
        nt = PROF_MAX_TIMINGS;
    struct prof_thread *t = strata->thread_data(req);
    int mine = strata->stage_depth(req), self = -1, n = 0;
    for (int i = 0; i < nt; i++)
        if (tm[i].depth == mine)
            self = i;       /* our own entry: the last at our depth */
    int64_t cpu = 0, below = 0;
    for (int i = self + 1; i < nt; i++) {
        if (tm[i].depth <= mine)
            break;
        st[n] = (struct prof_stage){ .section = tm[i].section, .plugin = tm[i].plugin,
                                     .depth = tm[i].depth, .self_ns = tm[i].self_ns,
                                     .total_ns = tm[i].total_ns, .cpu_ns = tm[i].cpu_ns };
        prof_stage_resolve(p, t, &st[n]);
        cpu += tm[i].cpu_ns;
        if (tm[i].depth == mine + 1)
            below += tm[i].total_ns;
        n++;
    }
    /* Total: since the request arrived (pool queueing included); a host
     * without an arrival time gets the time spent below us. */
    int64_t total = start <= 0 ? below
                    : strata->abi_minor >= 1 ? strata->elapsed_ns(req)
                                             : strata->now_ns() - start;
    if (total < 0)
        total = below;

    if (p->cfg->server_timing) {
        size_t cap = 96;
        for (int i = 0; i < n; i++)
            cap += st[i].pre ? st[i].pre_len + st[i].suf_len + 32
                             : 3 * strlen(st[i].section ? st[i].section : "") + 64;
        char *v = strata->alloc(req, cap);
        if (v && prof_server_timing(v, cap, st, n, total, cpu))
            strata->add_header(req, "Server-Timing", v);
    }
    if (p->cfg->slow_ms > 0 && (double)total / 1e6 > p->cfg->slow_ms)
        log_slow(p, req, st, n, total, cpu);

    if (t && sampled(t, p->cfg->sample))
        prof_record(p, t, strata->method(req), strata->var_get(req, STRATA_VAR_ROUTE),
                    strata->status(req), total, st, n);
    return STRATA_OK;
}

STRATA_EXPORT const struct strata_plugin strata_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "profiling",
    .version = "1.0",
    .summary = "Server-Timing header and latency per stage and route at /__profile",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = prof_options,
    .config_size = sizeof(struct prof_config),
    .create = prof_create,
    .destroy = prof_destroy,
    .thread_init = prof_thread_init,
    .handle = prof_handle,
};
