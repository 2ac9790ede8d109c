/* sleep20.c — bench plugin: a blocking stage. A filter that sleeps `ms`
 * milliseconds (20) and then calls next. It does not declare
 * STRATA_NONBLOCKING, so the host runs every request through it on the
 * pool: the blocking-stage workload of `make bench` measures that the
 * pool gives threads / 0.020 s and that other paths keep their latency.
 * Built by bench/run.sh with cc -shared -fPIC -Isdk, loaded by path. */
#include "strata.h"
#include <errno.h>
#include <stddef.h>
#include <time.h>

STRATA_HOST_DECLARE;

struct sleep20_config {
    int64_t ms;
};

static const strata_option sleep20_options[] = {
    {"ms", STRATA_OPT_INT, "20", 0, offsetof(struct sleep20_config, ms),
     "milliseconds to sleep per request", "0..60000"},
    STRATA_OPTIONS_END,
};

static int sleep20_create(const strata_section *sec, const void *config, void **inst)
{
    (void)sec;
    *inst = (void *)config;
    return STRATA_OK;
}

static int sleep20_handle(void *inst, strata_request *req)
{
    const struct sleep20_config *c = inst;
    struct timespec ts = {(time_t)(c->ms / 1000), (long)(c->ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return strata->next(req);
}

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "sleep20",
    .version = "1.0",
    .summary = "bench: a blocking filter that sleeps `ms` (20) then calls next",
    .kind = STRATA_FILTER,
    .host = &strata,
    .options = sleep20_options,
    .config_size = sizeof(struct sleep20_config),
    .create = sleep20_create,
    .handle = sleep20_handle,
};
