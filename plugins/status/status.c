/* status.c — what the server is doing now, like Paste's watchthreads:
 * workers, every thread that runs pipelines (idle, or the request line,
 * client, elapsed time and stage), queue, connections, uptime, totals by
 * status class and the loaded plugins. HTML that refreshes itself, and
 * ?format=json.
 *
 * Everything comes from the host through strata->workers/threads/
 * instances (the watchdog's scoreboard), so reading it takes no lock on
 * any request path. Nothing secret is shown: the host strips the query
 * from a thread's request text (this page cuts at '?' again), and no
 * header is ever printed.
 *
 * As an [app:] it answers every request it gets (its mount is where it
 * lives); as a [filter:] it answers on `path` and passes the rest on. */
#include "strata.h"
#include "textbuf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

STRATA_HOST_DECLARE;

/* ---- configuration ---- */

struct status_config {
    const char *path;
    int64_t refresh;
};

struct status {
    const strata_section *sec;
    const struct status_config *cfg;
    int filter;                 /* [filter:]: answer on path only       */
};

static const strata_option status_options[] = {
    { "path", STRATA_OPT_STRING, "/__status", 0, offsetof(struct status_config, path),
      "where a [filter:] answers, below the mount (an [app:] answers everywhere)", NULL },
    { "refresh", STRATA_OPT_INT, "2", 0, offsetof(struct status_config, refresh),
      "seconds between reloads of the HTML page; 0 = never", "0..3600" },
    STRATA_OPTIONS_END
};

/* ---- create / destroy ---- */

static int status_create(const strata_section *sec, const void *config, void **out)
{
    const struct status_config *cfg = config;
    if (!cfg->path || cfg->path[0] != '/') {
        strata->config_error(sec, "path", "must start with '/', got '%s'",
                             cfg->path ? cfg->path : "");
        return STRATA_ERROR;
    }
    struct status *s = calloc(1, sizeof *s);
    if (!s) {
        strata->config_error(sec, NULL, "out of memory");
        return STRATA_ERROR;
    }
    s->sec = sec;
    s->cfg = cfg;
    const char *name = strata->section_name(sec);
    s->filter = name && strncmp(name, "filter:", 7) == 0;
    *out = s;
    return STRATA_OK;
}

static void status_destroy(void *inst)
{
    free(inst);
}

/* ---- a snapshot of the host ---- */

struct snapshot {
    int64_t now;                /* unix seconds                         */
    const char *version;
    strata_worker_info *w;
    strata_thread_info *t;
    strata_instance_info *in;
    int nw, nt, ni;
};

/* The host fills at most `max` entries and returns how many: grow until
 * the answer is below the room given (or a sane ceiling is met). */
#define FETCH(fn, type, outp, countp, start, ceiling)                          \
    do {                                                                       \
        int cap_ = (start), n_ = 0;                                            \
        type *a_ = NULL;                                                       \
        for (;;) {                                                             \
            type *na_ = realloc(a_, (size_t)cap_ * sizeof *a_);                \
            if (!na_)                                                          \
                break;                                                         \
            a_ = na_;                                                          \
            n_ = (fn)(a_, cap_);                                               \
            if (n_ < cap_ || cap_ >= (ceiling))                                \
                break;                                                         \
            cap_ *= 4;                                                         \
        }                                                                      \
        *(outp) = a_;                                                          \
        *(countp) = n_ < 0 ? 0 : n_ > cap_ ? cap_ : n_;                        \
    } while (0)

static int snapshot_take(struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->now = (int64_t)time(NULL);
    s->version = strata->host_version ? strata->host_version() : "";
    FETCH(strata->workers, strata_worker_info, &s->w, &s->nw, 16, 1024);
    FETCH(strata->threads, strata_thread_info, &s->t, &s->nt, 256, 65536);
    FETCH(strata->instances, strata_instance_info, &s->in, &s->ni, 64, 16384);
    if (!s->w || !s->t || !s->in)
        return -1;
    /* Belt and braces: never print a query string. */
    for (int i = 0; i < s->nt; i++) {
        char *q = strchr(s->t[i].request, '?');
        if (q)
            *q = '\0';
    }
    return 0;
}

static void snapshot_free(struct snapshot *s)
{
    free(s->w);
    free(s->t);
    free(s->in);
}

struct totals {
    uint64_t requests, by_class[6];
    int threads, busy, queue, queue_limit, connections;
    int64_t oldest_start;
};

static void totals_of(const struct snapshot *s, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < s->nw; i++) {
        const strata_worker_info *w = &s->w[i];
        t->requests += w->requests;
        for (int c = 1; c < 6; c++)
            t->by_class[c] += w->by_class[c];
        t->queue += w->queue_depth;
        t->queue_limit += w->queue_limit;
        t->connections += w->connections;
        if (w->started_unix > 0 && (!t->oldest_start || w->started_unix < t->oldest_start))
            t->oldest_start = w->started_unix;
    }
    t->threads = s->nt;
    for (int i = 0; i < s->nt; i++)
        t->busy += s->t[i].busy != 0;
}

/* ---- JSON ---- */

static void render_json(const struct snapshot *s, sbuf *b)
{
    struct totals t;
    totals_of(s, &t);
    sb_puts(b, "{\"version\":\"");
    sb_json(b, s->version);
    sb_printf(b, "\",\"now_unix\":%lld,\"started_unix\":%lld,\"uptime_s\":%lld,",
              (long long)s->now, (long long)t.oldest_start,
              (long long)(t.oldest_start ? s->now - t.oldest_start : 0));
    sb_printf(b, "\"totals\":{\"requests\":%llu,\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
                 "\"4xx\":%llu,\"5xx\":%llu,\"threads\":%d,\"busy\":%d,\"queue_depth\":%d,"
                 "\"queue_limit\":%d,\"connections\":%d},\"workers\":[",
              (unsigned long long)t.requests, (unsigned long long)t.by_class[1],
              (unsigned long long)t.by_class[2], (unsigned long long)t.by_class[3],
              (unsigned long long)t.by_class[4], (unsigned long long)t.by_class[5], t.threads,
              t.busy, t.queue, t.queue_limit, t.connections);
    for (int i = 0; i < s->nw; i++) {
        const strata_worker_info *w = &s->w[i];
        sb_printf(b, "%s{\"worker\":%d,\"pid\":%d,\"started_unix\":%lld,\"generation\":%d,"
                     "\"requests\":%llu,\"by_class\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,"
                     "\"4xx\":%llu,\"5xx\":%llu},\"threads\":%d,\"queue_depth\":%d,"
                     "\"queue_limit\":%d,\"connections\":%d}",
                  i ? "," : "", w->worker, w->pid, (long long)w->started_unix, w->generation,
                  (unsigned long long)w->requests, (unsigned long long)w->by_class[1],
                  (unsigned long long)w->by_class[2], (unsigned long long)w->by_class[3],
                  (unsigned long long)w->by_class[4], (unsigned long long)w->by_class[5],
                  w->threads, w->queue_depth, w->queue_limit, w->connections);
    }
    sb_puts(b, "],\"threads\":[");
    for (int i = 0; i < s->nt; i++) {
        const strata_thread_info *th = &s->t[i];
        sb_printf(b, "%s{\"worker\":%d,\"pid\":%d,\"thread\":%d,\"busy\":%s,\"requests\":%llu",
                  i ? "," : "", th->worker, th->pid, th->thread, th->busy ? "true" : "false",
                  (unsigned long long)th->requests);
        if (th->busy) {
            sb_printf(b, ",\"elapsed_ms\":%.3f,\"request\":\"", (double)th->elapsed_us / 1e3);
            sb_json(b, th->request);
            sb_puts(b, "\",\"client\":\"");
            sb_json(b, th->client);
            sb_puts(b, "\",\"stage\":\"");
            sb_json(b, th->stage);
            sb_puts(b, "\"");
        }
        sb_puts(b, "}");
    }
    sb_puts(b, "],\"plugins\":[");
    for (int i = 0; i < s->ni; i++) {
        const strata_instance_info *in = &s->in[i];
        sb_puts(b, i ? ",{\"section\":\"" : "{\"section\":\"");
        sb_json(b, in->section);
        sb_puts(b, "\",\"plugin\":\"");
        sb_json(b, in->plugin);
        sb_puts(b, "\",\"version\":\"");
        sb_json(b, in->version);
        sb_puts(b, "\",\"path\":\"");
        sb_json(b, in->path);
        sb_puts(b, "\"}");
    }
    sb_puts(b, "]}\n");
}

/* ---- HTML ---- */

/* "0.12 ms", "850 ms", "12.4 s", "3m 07s", "2h 05m", "3d 4h" */
static const char *span_us(char *out, size_t cap, int64_t us)
{
    if (us < 0)
        us = 0;
    int64_t s = us / 1000000;
    if (us < 10000)
        snprintf(out, cap, "%.2f ms", (double)us / 1e3);
    else if (us < 1000000)
        snprintf(out, cap, "%lld ms", (long long)(us / 1000));
    else if (s < 60)
        snprintf(out, cap, "%.1f s", (double)us / 1e6);
    else if (s < 3600)
        snprintf(out, cap, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, cap, "%lldh %02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        snprintf(out, cap, "%lldd %lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
    return out;
}

static const char *when(char *out, size_t cap, int64_t unix_s)
{
    time_t tt = (time_t)unix_s;
    struct tm tm;
    if (unix_s <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, cap, "-");
    return out;
}

static void tile(sbuf *b, const char *label, const char *value, const char *cls)
{
    sb_printf(b, "<div class=\"tile%s%s\"><div class=k>%s</div><div class=n>%s</div></div>",
              cls ? " " : "", cls ? cls : "", label, value);
}

static void render_html(const struct status *st, const struct snapshot *s, sbuf *b)
{
    struct totals t;
    totals_of(s, &t);
    char a[48], c[48], num[48];
    sb_puts(b, "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
               "<meta name=viewport content=\"width=device-width,initial-scale=1\">");
    if (st->cfg->refresh > 0)
        sb_printf(b, "<meta http-equiv=refresh content=\"%lld\">", (long long)st->cfg->refresh);
    sb_puts(b,
            "<title>strata status</title><style>\n"
            "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
            "margin:0;padding:20px 28px;color:#1d2330;background:#f5f6f8}\n"
            "h1{font-size:21px;margin:0 0 2px}h2{font-size:16px;margin:0 0 8px}"
            ".sub{color:#5b6475;margin:0 0 14px}\n"
            ".card{background:#fff;border:1px solid #dde1e8;border-radius:8px;"
            "padding:14px 16px;margin:0 0 14px}\n"
            ".tiles{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 14px}"
            ".tile{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:8px 14px;"
            "min-width:96px}.tile .k{color:#5b6475;font-size:12px}.tile .n{font-size:20px;"
            "font-weight:600;font-variant-numeric:tabular-nums}\n"
            ".c2 .n{color:#2e7d32}.c3 .n{color:#2f5d8a}.c4 .n{color:#b26a00}.c5 .n{color:#c62828}\n"
            "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
            "th,td{padding:5px 8px;text-align:left;border-bottom:1px solid #eceff3;"
            "white-space:nowrap}th{color:#5b6475;font-weight:600}td.r,th.r{text-align:right}\n"
            "td.req{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:normal;"
            "word-break:break-all}\n"
            ".badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;"
            "font-weight:600}.busy{background:#e3f0ff;color:#1f5fa8}"
            ".idle{background:#eef0f3;color:#7a8291}\n"
            "tr.slow td{background:#fff8e6}tr.stuck td{background:#fdecec}\n"
            "nav a{color:#2f5d8a;margin-right:14px}\n</style></head><body>\n"
            "<h1>strata status</h1>\n");
    sb_puts(b, "<p class=sub>strata ");
    sb_html(b, s->version);
    sb_printf(b, " &middot; up %s (since %s) &middot; %d worker%s &middot; now %s",
              span_us(a, sizeof a, t.oldest_start ? (s->now - t.oldest_start) * 1000000 : 0),
              when(c, sizeof c, t.oldest_start), s->nw, s->nw == 1 ? "" : "s",
              when(num, sizeof num, s->now));
    if (st->cfg->refresh > 0)
        sb_printf(b, " &middot; refreshes every %lld s", (long long)st->cfg->refresh);
    sb_puts(b, "</p>\n<nav><a href=\"?format=json\">JSON</a></nav><p></p>\n<div class=tiles>");
    snprintf(num, sizeof num, "%llu", (unsigned long long)t.requests);
    tile(b, "requests", num, NULL);
    static const char *const cls[] = { "", "1xx", "2xx", "3xx", "4xx", "5xx" };
    static const char *const ccls[] = { "", "c1", "c2", "c3", "c4", "c5" };
    for (int k = 1; k < 6; k++) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)t.by_class[k]);
        tile(b, cls[k], num, ccls[k]);
    }
    snprintf(num, sizeof num, "%d / %d", t.busy, t.threads);
    tile(b, "busy threads", num, NULL);
    snprintf(num, sizeof num, "%d / %d", t.queue, t.queue_limit);
    tile(b, "queue", num, NULL);
    snprintf(num, sizeof num, "%d", t.connections);
    tile(b, "connections", num, NULL);
    sb_puts(b, "</div>\n");

    /* Threads first: what a user opens the page for. */
    sb_puts(b, "<section class=card><h2>Threads</h2><table><tr><th>worker</th><th>thread</th>"
               "<th>state</th><th class=r>elapsed</th><th>stage</th><th>request</th>"
               "<th>client</th><th class=r>served</th></tr>\n");
    for (int i = 0; i < s->nt; i++) {
        const strata_thread_info *th = &s->t[i];
        const char *row = !th->busy ? "" : th->elapsed_us >= 10000000 ? " class=stuck"
                                         : th->elapsed_us >= 1000000 ? " class=slow" : "";
        sb_printf(b, "<tr%s><td>%d</td><td>%d</td><td><span class=\"badge %s\">%s</span></td>",
                  row, th->worker, th->thread, th->busy ? "busy" : "idle",
                  th->busy ? "busy" : "idle");
        if (th->busy) {
            sb_printf(b, "<td class=r>%s</td><td>", span_us(a, sizeof a, th->elapsed_us));
            sb_html(b, th->stage[0] ? th->stage : "host");
            sb_puts(b, "</td><td class=req>");
            sb_html(b, th->request);
            sb_puts(b, "</td><td>");
            sb_html(b, th->client);
            sb_puts(b, "</td>");
        } else {
            sb_puts(b, "<td class=r></td><td></td><td></td><td></td>");
        }
        sb_printf(b, "<td class=r>%llu</td></tr>\n", (unsigned long long)th->requests);
    }
    if (s->nt == 0)
        sb_puts(b, "<tr><td colspan=8>no thread has registered yet</td></tr>\n");
    sb_puts(b, "</table></section>\n");

    sb_puts(b, "<section class=card><h2>Workers</h2><table><tr><th>worker</th><th>pid</th>"
               "<th>started</th><th class=r>up</th><th class=r>generation</th>"
               "<th class=r>requests</th><th class=r>2xx</th><th class=r>3xx</th>"
               "<th class=r>4xx</th><th class=r>5xx</th><th class=r>threads</th>"
               "<th class=r>queue</th><th class=r>connections</th></tr>\n");
    for (int i = 0; i < s->nw; i++) {
        const strata_worker_info *w = &s->w[i];
        sb_printf(b, "<tr><td>%d</td><td>%d</td><td>%s</td><td class=r>%s</td>"
                     "<td class=r>%d</td><td class=r>%llu</td><td class=r>%llu</td>"
                     "<td class=r>%llu</td><td class=r>%llu</td><td class=r>%llu</td>"
                     "<td class=r>%d</td><td class=r>%d / %d</td><td class=r>%d</td></tr>\n",
                  w->worker, w->pid, when(c, sizeof c, w->started_unix),
                  span_us(a, sizeof a,
                          w->started_unix ? (s->now - w->started_unix) * 1000000 : 0),
                  w->generation, (unsigned long long)w->requests,
                  (unsigned long long)w->by_class[2], (unsigned long long)w->by_class[3],
                  (unsigned long long)w->by_class[4], (unsigned long long)w->by_class[5],
                  w->threads, w->queue_depth, w->queue_limit, w->connections);
    }
    sb_puts(b, "</table></section>\n");

    sb_puts(b, "<section class=card><h2>Plugins</h2><table><tr><th>section</th><th>plugin</th>"
               "<th>version</th><th>file</th></tr>\n");
    for (int i = 0; i < s->ni; i++) {
        const strata_instance_info *in = &s->in[i];
        sb_puts(b, "<tr><td>[");
        sb_html(b, in->section);
        sb_puts(b, "]</td><td>");
        sb_html(b, in->plugin);
        sb_puts(b, "</td><td>");
        sb_html(b, in->version);
        sb_puts(b, "</td><td class=req>");
        sb_html(b, in->path);
        sb_puts(b, "</td></tr>\n");
    }
    sb_puts(b, "</table></section>\n</body></html>\n");
}

/* ---- the request ---- */

static int status_handle(void *inst, strata_request *req)
{
    struct status *st = inst;
    if (st->filter) {
        const char *p = strata->path(req);
        if (!p || strcmp(p, st->cfg->path) != 0)
            return strata->next(req);
    }
    const char *m = strata->method(req);
    strata->set_header(req, "Cache-Control", "no-store");
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        strata->set_header(req, "Allow", "GET, HEAD");
        return strata->respond(req, 405, "text/plain; charset=utf-8", "method not allowed\n",
                               19);
    }
    const char *fmt = strata->query_arg(req, "format");
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "html") != 0)
        return strata->respond(req, 400, "text/plain; charset=utf-8",
                               "format: expected html or json\n", 30);
    int json = fmt && strcmp(fmt, "json") == 0;
    struct snapshot s;
    sbuf b = { 0 };
    if (snapshot_take(&s) == 0) {
        if (json)
            render_json(&s, &b);
        else
            render_html(st, &s, &b);
    } else {
        b.oom = 1;
    }
    snapshot_free(&s);
    if (b.oom) {
        sb_free(&b);
        return STRATA_ERROR;
    }
    size_t len;
    char *body = sb_take(&b, &len);
    strata->set_status(req, 200);
    strata->set_header(req, "Content-Type",
                       json ? "application/json" : "text/html; charset=utf-8");
    if (strata->set_body(req, body, len, STRATA_BODY_FREE) != STRATA_OK) {
        free(body);
        return STRATA_ERROR;
    }
    return STRATA_OK;
}

STRATA_EXPORT const struct strata_plugin strata_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "status",
    .version = "1.0",
    .summary = "workers, threads and what each one runs now, at /__status",
    .kind = STRATA_APP_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = status_options,
    .config_size = sizeof(struct status_config),
    .create = status_create,
    .destroy = status_destroy,
    .handle = status_handle,
};
