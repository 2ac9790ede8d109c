/* hostapi.c — the table every plugin gets: request.c's request functions
 * plus the host's own services (errors, logs, the onion, status). */
#include "hostapi.h"
#include "errs.h"
#include "log.h"
#include "pipeline.h"
#include "request.h"
#include "runtime.h"
#include "scoreboard.h"
#include "server.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Instances are created by one thread at start-up, so a plain pointer. */
static struct errs *create_errs;
static int n_config_errors;

void hostapi_set_errs(struct errs *e) { create_errs = e; }
int hostapi_config_errors(void) { return n_config_errors; }

static void h_config_error(const strata_section *sec, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n_config_errors++;
    if (create_errs)
        err_add(create_errs, sec ? sec->name : NULL, key, "%s", msg);
    else
        log_msg(STRATA_LOG_ERROR, "%s: [%s] %s%s%s", sec ? sec->file : "?", sec ? sec->name : "?",
                key ? key : "", key ? ": " : "", msg);
}

static const char *h_section_name(const strata_section *sec) { return sec->name; }
static const char *h_config_dir(const strata_section *sec) { return sec->dir; }

static void h_watch_file(const strata_section *sec, const char *path)
{
    struct runtime *rt = sec->rt;
    struct watch *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return;
    }
    w->next = rt->watches;
    rt->watches = w;
}

static void h_log(const strata_section *sec, int level, const char *fmt, ...)
{
    char prefix[160];
    snprintf(prefix, sizeof prefix, "[%s]", sec ? sec->name : "plugin");
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, prefix, fmt, ap);
    va_end(ap);
}

static int h_may_block(strata_request *r) { return r->on_pool; }
static int64_t h_now_ns(void) { return now_ns(); }

static int h_instances(strata_instance_info *out, int max)
{
    const struct runtime *rt = server_runtime();
    int n = 0;
    for (int i = 0; rt && i < rt->n_inst && n < max; i++, n++) {
        out[n].section = rt->inst[i]->sec.name;
        out[n].plugin = rt->inst[i]->p->name;
        out[n].version = rt->inst[i]->p->version ? rt->inst[i]->p->version : "";
        out[n].path = rt->inst[i]->so->path;
    }
    return n;
}

static const char *h_version(void) { return STRATA_VERSION; }

const strata_host *hostapi_table(void)
{
    static struct strata_host t;
    if (t.abi_major)
        return &t;
    t.abi_major = STRATA_ABI_MAJOR;
    t.abi_minor = STRATA_ABI_MINOR;
    t.struct_size = sizeof t;
    request_fill_api(&t);
    t.config_error = h_config_error;
    t.section_name = h_section_name;
    t.config_dir = h_config_dir;
    t.watch_file = h_watch_file;
    t.log = h_log;
    t.next = pipeline_next;
    t.may_block = h_may_block;
    t.thread_data = pipeline_thread_data;
    t.now_ns = h_now_ns;
    t.timings = pipeline_timings;
    t.stage_depth = pipeline_stage_depth;
    t.workers = scoreboard_workers;
    t.threads = scoreboard_threads;
    t.instances = h_instances;
    t.host_version = h_version;
    t.elapsed_ns = pipeline_elapsed_ns;
    return &t;
}
