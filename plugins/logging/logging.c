/* logging.c — the access log filter.
 *
 *   [filter:log]
 *   use = logging
 *   format = combined            ; common, json, or "%h %l %u %t \"%r\" %>s %b %D"
 *   file = %(here)s/access.log   ; -, stdout, stderr, syslog
 *
 * The line is made in on_complete, when the exchange has ended: the status
 * and the body length are final there (after next() a later stage or the
 * host could still change them, e.g. a 500 from a failing stage, HEAD
 * bodies suppressed), and it runs once per exchange even when a stage
 * yields and the host re-runs the request on the pool. One thing on_complete
 * cannot see: the host hands fd and refcounted bodies to libmicrohttpd
 * before the exchange ends, so resp_length() is -1 there; handle() keeps
 * the length found after next() in a request variable for it. It is rendered into
 * the thread's own scratch and appended to the thread's own buffer; the
 * writer thread (writer.c) does the I/O. See docs/plugins/logging.md. */
#include "strata.h"
#include "format.h"
#include "writer.h"
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

STRATA_HOST_DECLARE;

#define FLUSH_WAIT_NS (5 * 1000000000LL)   /* STRATA_EVENT_FLUSH waits this long */
#define STALL_NS (5 * 1000000000LL)        /* a producer waits for room this long */
#define CHUNKS_PER_THREAD 8

/* ---- configuration ---- */

struct log_conf {
    const char *format;
    const char *file;
    int64_t buffer;
    double flush;
    const char *syslog_facility;
    const char *syslog_tag;
    const char *syslog_socket;
};

static const strata_option log_options[] = {
    {"format", STRATA_OPT_STRING, "combined", 0, offsetof(struct log_conf, format),
     "combined, common, json, or a mod_log_config string such as '%h %l %u %t \"%r\" %>s %b'",
     NULL},
    {"file", STRATA_OPT_PATH, "-", 0, offsetof(struct log_conf, file),
     "a file (appended, created 0640), '-' or 'stdout', 'stderr', or 'syslog'", NULL},
    {"buffer", STRATA_OPT_SIZE, "64K", 0, offsetof(struct log_conf, buffer),
     "buffer per thread; a full one is handed to the writer at once", "1024..67108864"},
    {"flush", STRATA_OPT_DOUBLE, "1", 0, offsetof(struct log_conf, flush),
     "seconds a line may wait in a buffer before it is written", "0.001..60"},
    {"syslog_facility", STRATA_OPT_ENUM, "local7", 0, offsetof(struct log_conf, syslog_facility),
     "facility when file = syslog",
     "kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|"
     "local0|local1|local2|local3|local4|local5|local6|local7"},
    {"syslog_tag", STRATA_OPT_STRING, "strata", 0, offsetof(struct log_conf, syslog_tag),
     "tag (program name) when file = syslog", NULL},
    {"syslog_socket", STRATA_OPT_PATH, "/dev/log", 0, offsetof(struct log_conf, syslog_socket),
     "the local syslog socket when file = syslog", NULL},
    STRATA_OPTIONS_END,
};

struct logging {
    const strata_section *sec;
    struct lf_format fmt;
    struct lw_writer *w;
    /* for a thread the host gives no slot (thread_init failed) */
    pthread_mutex_t shared_mu;
    struct lw_tbuf *shared;
};

/* ---- create / destroy ---- */

/* PATH options arrive resolved against the config folder, so "stderr"
 * is "<dir>/stderr" here; "./stderr" names a real file of that name. */
static int file_is(const char *file, const char *dir, const char *name)
{
    if (strcmp(file, name) == 0)
        return 1;
    size_t n = dir ? strlen(dir) : 0;
    return n && strncmp(file, dir, n) == 0 && file[n] == '/' && strcmp(file + n + 1, name) == 0;
}

static int log_create(const strata_section *sec, const void *config, void **out)
{
    const struct log_conf *cf = config;
    struct logging *l = calloc(1, sizeof *l);
    if (!l)
        return STRATA_ERROR;
    l->sec = sec;
    char err[512];
    if (lf_compile(cf->format, &l->fmt, err, sizeof err)) {
        strata->config_error(sec, "format", "%s", err);
        free(l);
        return STRATA_ERROR;
    }

    struct lw_config wc = {
        .chunk_size = (size_t)cf->buffer,
        .max_chunks = CHUNKS_PER_THREAD,
        .flush_ns = (int64_t)(cf->flush * 1e9),
        .stall_ns = STALL_NS,
        .tag = cf->syslog_tag,
        .host = strata,
        .sec = sec,
    };
    const char *dir = strata->config_dir(sec);
    const char *file = cf->file ? cf->file : "-";
    if (!*file) {
        strata->config_error(sec, "file", "expected a path, '-', 'stderr' or 'syslog'");
        goto fail;
    }
    if (file_is(file, dir, "-") || file_is(file, dir, "stdout")) {
        wc.sink = LW_STDOUT;
    } else if (file_is(file, dir, "stderr")) {
        wc.sink = LW_STDERR;
    } else if (file_is(file, dir, "syslog")) {
        char fac[16] = "";
        for (size_t i = 0; cf->syslog_facility && cf->syslog_facility[i] && i < sizeof fac - 1; i++)
            fac[i] = (char)tolower((unsigned char)cf->syslog_facility[i]);
        wc.sink = LW_SYSLOG;
        wc.path = cf->syslog_socket ? cf->syslog_socket : "/dev/log";
        wc.facility = lw_facility(fac);
        if (wc.facility < 0) {
            strata->config_error(sec, "syslog_facility", "unknown facility '%s'",
                                 cf->syslog_facility);
            goto fail;
        }
    } else {
        wc.sink = LW_FILE;
        wc.path = file;
    }
    if (lw_open(&l->w, &wc, err, sizeof err)) {
        strata->config_error(sec, "file", "%s", err);
        goto fail;
    }
    if (pthread_mutex_init(&l->shared_mu, NULL) || !(l->shared = lw_thread(l->w))) {
        strata->config_error(sec, NULL, "out of memory");
        lw_close(l->w);
        goto fail;
    }
    *out = l;
    return STRATA_OK;
fail:
    lf_free(&l->fmt);
    free(l);
    return STRATA_ERROR;
}

/* Graceful stop: the writer writes everything buffered, then is joined. */
static void log_destroy(void *inst)
{
    struct logging *l = inst;
    lw_close(l->w);
    pthread_mutex_destroy(&l->shared_mu);
    lf_free(&l->fmt);
    free(l);
}

static int log_thread_init(void *inst, void **slot)
{
    struct logging *l = inst;
    *slot = lw_thread(l->w);
    return *slot ? STRATA_OK : STRATA_ERROR;
}

static void log_thread_fini(void *inst, void *slot)
{
    if (slot)
        lw_thread_retire(slot);
}

/* ---- the request ---- */

static int log_handle(void *inst, strata_request *req)
{
    /* The line is written in on_complete, where the host keeps the
     * response's status and length readable. */
    return strata->next(req);
}

static void log_complete(void *inst, strata_request *req, int sent_ok)
{
    struct logging *l = inst;
    struct lw_tbuf *t = strata->thread_data(req);
    int shared = t == NULL;
    if (shared) {
        t = l->shared;
        pthread_mutex_lock(&l->shared_mu);
    }
    int64_t dur_ns = strata->abi_minor >= 1 ? strata->elapsed_ns(req)
                                            : strata->now_ns() - strata->start_ns(req);
    int64_t start_us = strata->start_unix_us(req);
    struct lf_ctx c = {
        .h = strata,
        .req = req,
        .sent_ok = sent_ok,
        .duration_us = dur_ns > 0 ? dur_ns / 1000 : 0,
        .now_unix_us = start_us + (dur_ns > 0 ? dur_ns / 1000 : 0),
        .pid = t->pid,
        .tid = t->tid,
        .clock = &t->clock,
        .clock_end = &t->clock_end,
    };
    t->line.len = 0;
    t->line.oom = 0;
    lf_render(&l->fmt, &c, &t->line);
    if (!t->line.oom)
        lw_append(t, t->line.p, t->line.len);
    if (shared)
        pthread_mutex_unlock(&l->shared_mu);
}

static void log_event(void *inst, int event)
{
    struct logging *l = inst;
    if (event == STRATA_EVENT_REOPEN)
        lw_reopen(l->w);
    else if (event == STRATA_EVENT_FLUSH && lw_flush(l->w, FLUSH_WAIT_NS))
        strata->log(l->sec, STRATA_LOG_WARN, "flush did not finish within %lld s",
                    (long long)(FLUSH_WAIT_NS / 1000000000));
}

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "logging",
    .version = "1.0",
    .summary = "access log: combined, common, json or mod_log_config lines to a file, "
               "stdout, stderr or syslog",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = log_options,
    .config_size = sizeof(struct log_conf),
    .create = log_create,
    .destroy = log_destroy,
    .thread_init = log_thread_init,
    .thread_fini = log_thread_fini,
    .handle = log_handle,
    .on_complete = log_complete,
    .on_event = log_event,
};
