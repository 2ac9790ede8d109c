/* drive_pipeline.c — run requests through a strata pipeline in-process,
 * for instruction counts (`make bench-instructions`, bench/instructions.sh).
 *
 *   drive_pipeline CONFIG COUNT [PATH ['Name: value' ...]]
 *
 * Links the host's objects (all but main.o), builds the runtime from
 * CONFIG as `strata serve` would, warms up (thread_init, lazy state), then
 * calls drive_requests(), which runs COUNT requests for PATH ("/x") the
 * way host/server.c does on the fast path: request_init, fill the input,
 * pipeline_run (inline: on_pool = 0; a pipeline that yields is re-run
 * with on_pool = 1 as the pool would), pipeline_complete, request_fini.
 * Under valgrind --tool=callgrind --toggle-collect=drive_requests only
 * that loop is counted, so libmicrohttpd and start-up are left out and
 * the figure is the pipeline's own cost per request. */
#include "../host/pipeline.h"
#include "../host/request.h"
#include "../host/runtime.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Request headers from the command line ("Name: value"). */
#define MAX_HEADERS 16
static const char *hname[MAX_HEADERS], *hvalue[MAX_HEADERS];
static int n_headers;

static const char *cl_header(void *src, const char *name)
{
    (void)src;
    for (int i = 0; i < n_headers; i++)
        if (strcasecmp(hname[i], name) == 0)
            return hvalue[i];
    return NULL;
}

static int cl_each(void *src, int (*cb)(void *, const char *, const char *), void *ctx)
{
    (void)src;
    for (int i = 0; i < n_headers; i++)
        if (cb(ctx, hname[i], hvalue[i]))
            return i + 1;
    return n_headers;
}

static const char *no_arg(void *src, const char *n) { (void)src; (void)n; return NULL; }
static const struct request_source cl_source = {cl_header, cl_each, no_arg};

static int yielded;

static int one_request(struct strata_request *r, const struct runtime *rt, const char *path)
{
    request_init(r);
    r->method = "GET";
    r->uri = path;
    r->path = path;
    r->version = "HTTP/1.1";
    r->client = "127.0.0.1";
    r->source = &cl_source;
    pipeline_mark_start(r);
    int rc = pipeline_run(r, rt);
    if (rc == STRATA_YIELD) {           /* what the pool does */
        yielded++;
        request_reset_response(r);
        r->on_pool = 1;
        pipeline_run(r, rt);
    }
    int status = r->status;
    pipeline_complete(r, 1);
    request_fini(r);
    return status;
}

/* The measured loop: callgrind --toggle-collect=drive_requests. */
__attribute__((noinline)) int drive_requests(struct strata_request *r, const struct runtime *rt,
                                             const char *path, long count)
{
    int bad = 0;
    for (long i = 0; i < count; i++)
        bad += one_request(r, rt, path) != 200;
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: drive_pipeline CONFIG COUNT [PATH ['Name: value' ...]]\n");
        return 2;
    }
    long count = atol(argv[2]);
    const char *path = argc > 3 ? argv[3] : "/x";
    for (int i = 4; i < argc && n_headers < MAX_HEADERS; i++) {
        char *colon = strchr(argv[i], ':');
        if (!colon) {
            fprintf(stderr, "drive_pipeline: header '%s': expected 'Name: value'\n", argv[i]);
            return 2;
        }
        *colon = '\0';
        hname[n_headers] = argv[i];
        hvalue[n_headers++] = colon + 1 + strspn(colon + 1, " ");
    }
    static char err[16384];
    struct runtime *rt = runtime_build(argv[1], NULL, 0, err, sizeof err);
    if (!rt) {
        fputs(err, stderr);
        return 1;
    }
    struct strata_request *r = malloc(sizeof *r);
    if (!r)
        return 1;
    int bad = drive_requests(r, rt, path, 0);   /* resolve the symbol once */
    for (int i = 0; i < 100; i++)               /* warm-up: thread_init, caches */
        bad += one_request(r, rt, path) != 200;
    yielded = 0;
    bad += drive_requests(r, rt, path, count);
    printf("requests %ld not_200 %d yielded %d\n", count, bad, yielded);
    free(r);
    pipeline_thread_exit();
    runtime_free(rt);
    return bad ? 1 : 0;
}
