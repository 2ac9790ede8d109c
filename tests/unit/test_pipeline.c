/* test_pipeline.c — pipeline_run over runtimes built from INI text with
 * the tag/echo/pass/probe/crash test plugins (and one hand-made chain):
 * order, short-circuit, post-processing after next, stage timings, the
 * I/O-thread yield, urlmap routing, the host's 500/503/504 answers. */
#include "unit.h"
#include "testplugins.h"
#include "../../host/path.h"
#include "../../host/pipeline.h"
#include "../../host/request.h"
#include "../../host/runtime.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>

struct fx {
    struct runtime *rt;
    char err[8192];
    char *path;
    char log[PATH_MAX];
    struct strata_request *reqs[8];
    int n_reqs;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->log, sizeof f->log, "%s/pipeline.log", unit_tmpdir());
    unlink(f->log);
    *state = f;
    return 0;
}

static void req_free(struct strata_request *r)
{
    request_fini(r);
    free(r);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < f->n_reqs; i++)
        req_free(f->reqs[i]);
    runtime_free(f->rt);
    free(f->path);
    free(f);
    return 0;
}

static void build(struct fx *f, const char *body)
{
    char ini[16384];
    snprintf(ini, sizeof ini, "[server:main]\nplugin_path = %s\n%s", testplugins_dir, body);
    runtime_free(f->rt);
    free(f->path);
    f->path = unit_write("p.ini", ini);
    f->rt = runtime_build(f->path, NULL, 0, f->err, sizeof f->err);
    if (!f->rt)
        fail_msg("runtime_build failed:\n%s", f->err);
}

/* A request as the server makes one: the path decoded and cleaned. */
static struct strata_request *req_new(const char *method, const char *uri)
{
    struct strata_request *r = malloc(sizeof *r);
    assert_non_null(r);
    request_init(r);
    r->method = method;
    r->uri = arena_strdup(&r->arena, uri);
    r->path = path_clean(&r->arena, uri);
    assert_non_null(r->path);
    const char *q = strchr(uri, '?');
    r->query = q ? r->uri + (q - uri) + 1 : NULL;
    r->version = "HTTP/1.1";
    r->client = "127.0.0.1";
    r->start_ns = now_ns();
    return r;
}

/* Run uri through the runtime on a pool thread (may_block 1) or the I/O
 * thread; the request is freed at teardown. */
static struct strata_request *run_on(struct fx *f, const char *uri, int on_pool, int *rc)
{
    struct strata_request *r = req_new("GET", uri);
    assert_true(f->n_reqs < 8);
    f->reqs[f->n_reqs++] = r;
    r->on_pool = on_pool;
    int got = pipeline_run(r, f->rt);
    if (rc)
        *rc = got;
    else
        assert_int_equal(got, STRATA_OK);
    return r;
}

static struct strata_request *run(struct fx *f, const char *uri) { return run_on(f, uri, 1, NULL); }

static const char *hdr(struct strata_request *r, const char *name)
{
    for (struct header *h = r->resp_headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static const char *body(struct strata_request *r)
{
    assert_int_equal(r->body_kind, BODY_MEM);
    char *s = arena_alloc(&r->arena, r->body_len + 1);
    memcpy(s, r->body, r->body_len);
    s[r->body_len] = '\0';
    return s;
}

/* The value of "key: value" in echo's answer. */
static const char *echo_field(struct strata_request *r, const char *key)
{
    const char *b = body(r);
    size_t klen = strlen(key);
    for (const char *line = b; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, key, klen) == 0 && line[klen] == ':' && line[klen + 1] == ' ') {
            size_t n = nl ? (size_t)(nl - line - klen - 2) : strlen(line + klen + 2);
            return arena_strndup(&r->arena, line + klen + 2, n);
        }
        line = nl ? nl + 1 : NULL;
    }
    fail_msg("no '%s:' line in echo's answer:\n%s", key, b);
    return NULL;
}

static const char *var(struct strata_request *r, const char *name)
{
    for (struct var *v = r->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v->value;
    return NULL;
}

static struct instance *inst_named(struct runtime *rt, const char *section)
{
    for (int i = 0; i < rt->n_inst; i++)
        if (strcmp(rt->inst[i]->sec.name, section) == 0)
            return rt->inst[i];
    fail_msg("no instance [%s]", section);
    return NULL;
}

static char *read_log(struct fx *f) { return unit_slurp(f->log); }

#define TAGS_AB_ECHO                                                          \
    "[filter:a]\nuse = tag\ntag = a\n"                                        \
    "[filter:b]\nuse = tag\ntag = b\ndeny = /private\n"                       \
    "[app:e]\nuse = echo\nname = e\n"                                         \
    "[pipeline:main]\npipeline = a b e\n"

/* ---- the onion ---- */

static void pipeline__filters__run_in_order_then_post_process_in_reverse(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    struct strata_request *r = run(f, "/hello?x=1");
    assert_int_equal(r->status, 200);
    assert_string_equal(echo_field(r, "app"), "e");
    assert_string_equal(echo_field(r, "tags"), "a,b");          /* before next: a then b */
    assert_string_equal(hdr(r, "X-Tags"), "b,a");               /* after next: b then a */
    assert_string_equal(echo_field(r, "path"), "/hello");
    assert_string_equal(echo_field(r, "query"), "x=1");
    assert_string_equal(echo_field(r, "route"), "/");
    assert_string_equal(echo_field(r, "pool"), "1");
    assert_string_equal(hdr(r, "Content-Type"), "text/plain");
}

static void pipeline__filter_answers__short_circuits_inner_stages(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    struct strata_request *r = run(f, "/private/x");
    assert_int_equal(r->status, 403);
    assert_string_equal(body(r), "denied\n");
    assert_int_equal(r->n_timings, 2);                          /* a and b: echo never ran */
    assert_string_equal(var(r, "tags"), "a,b");
    assert_string_equal(hdr(r, "X-Tags"), "a");                 /* a still post-processes */
}

static void pipeline__post_processing__sees_the_inner_answer(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:p]\nuse = pass\ntag = seen\n[app:e]\nuse = echo\nstatus = 201\n"
             "[pipeline:main]\npipeline = p e\n");
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 201);
    assert_string_equal(hdr(r, "X-Pass"), "seen");
}

static void pipeline__stage_timings__present_and_nested(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    struct strata_request *r = run(f, "/");
    strata_timing t[8];
    int n = pipeline_timings(r, t, 8);
    assert_int_equal(n, 3);
    const char *names[] = {"filter:a", "filter:b", "app:e"};
    const char *plugins[] = {"tag", "tag", "echo"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(t[i].section, names[i]);
        assert_string_equal(t[i].plugin, plugins[i]);
        assert_int_equal(t[i].depth, i);
        assert_true(t[i].total_ns > 0);
        assert_true(t[i].self_ns >= 0);
        assert_true(t[i].self_ns <= t[i].total_ns);
    }
    /* totals include the stages below */
    assert_true(t[0].total_ns >= t[1].total_ns);
    assert_true(t[1].total_ns >= t[2].total_ns);
    assert_true(t[0].self_ns == t[0].total_ns - t[1].total_ns);
    assert_true(t[2].self_ns == t[2].total_ns);
    /* what each filter saw from inside, after next: the stages below it */
    assert_string_equal(hdr(r, "X-Below-a"), "2");
    assert_string_equal(hdr(r, "X-Below-b"), "1");
    assert_int_equal(pipeline_timings(r, t, 1), 1);             /* bounded by max */
}

static void pipeline__stage_depth__outside_a_stage_is_zero(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    struct strata_request *r = run(f, "/");
    assert_int_equal(pipeline_stage_depth(r), 0);
    assert_int_equal(r->cur_t, -1);
}

/* elapsed_ns reads the stage clock; it must agree with CLOCK_MONOTONIC
 * (now_ns - start_ns), with the tick stamp and without it. */
static void pipeline__elapsed_ns__agrees_with_the_monotonic_clock(void **state)
{
    (void)state;
    struct strata_request *r = calloc(1, sizeof *r);
    assert_non_null(r);
    request_init(r);
    assert_int_equal(pipeline_elapsed_ns(r), 0);          /* no start: 0 */
    pipeline_mark_start(r);
    assert_true(r->start_ns > 0);
    struct timespec pause = {0, 30 * 1000000};
    nanosleep(&pause, NULL);
    int64_t e = pipeline_elapsed_ns(r), m = now_ns() - r->start_ns;
    assert_true(e >= 30 * 1000000);
    assert_true(m >= e);
    assert_true(m - e < 5 * 1000000);   /* read just apart: well within 5 ms */
    int64_t e2 = pipeline_elapsed_ns(r);
    assert_true(e2 >= e);               /* never backwards */
    r->start_tick = 0;                  /* a request stamped without ticks */
    e = pipeline_elapsed_ns(r);
    assert_true(e >= 30 * 1000000 && e - (now_ns() - r->start_ns) <= 0);
    request_fini(r);
    free(r);
}

static void pipeline__nested_pipelines__flattened_in_order(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:a]\nuse = tag\ntag = a\n[filter:b]\nuse = tag\ntag = b\n"
             "[filter:c]\nuse = tag\ntag = c\n[app:e]\nuse = echo\n"
             "[pipeline:inner]\npipeline = b c e\n[pipeline:main]\npipeline = a inner\n");
    struct strata_request *r = run(f, "/");
    assert_string_equal(echo_field(r, "tags"), "a,b,c");
    assert_string_equal(hdr(r, "X-Tags"), "c,b,a");
}

/* ---- the I/O thread and the pool ---- */

static void pipeline__blocking_stage_on_io_thread__yields_then_runs_on_pool(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    int rc;
    struct strata_request *r = run_on(f, "/", 0, &rc);
    assert_int_equal(rc, STRATA_YIELD);
    assert_int_equal(r->status, 0);                 /* nothing answered yet */
    /* what the server does: reset, then the whole request again on the pool */
    request_reset_response(r);
    r->on_pool = 1;
    assert_int_equal(pipeline_run(r, f->rt), STRATA_OK);
    assert_int_equal(r->status, 200);
    assert_string_equal(echo_field(r, "tags"), "a,b");   /* not a,b,a,b */
    assert_string_equal(echo_field(r, "pool"), "1");
    assert_string_equal(hdr(r, "X-Tags"), "b,a");
    assert_int_equal(r->n_timings, 3);
}

static void pipeline__all_nonblocking__no_yield_on_io_thread(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:a]\nuse = tag\ntag = a\n[app:p]\nuse = probe\n[pipeline:main]\npipeline = a p\n");
    int rc;
    struct strata_request *r = run_on(f, "/", 0, &rc);
    assert_int_equal(rc, STRATA_OK);
    assert_int_equal(r->status, 200);
    assert_string_equal(body(r), "app:p");
    assert_string_equal(hdr(r, "X-Tags"), "a");
}

static void pipeline__blocking_stage_on_pool__no_yield(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    int rc;
    run_on(f, "/", 1, &rc);
    assert_int_equal(rc, STRATA_OK);
}

static void pipeline__nonblocking_stage_asks_for_pool__yields(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:a]\nuse = tag\ntag = a\n[app:p]\nuse = probe\naction = yield\n"
             "[pipeline:main]\npipeline = a p\n");
    int rc;
    struct strata_request *r = run_on(f, "/", 0, &rc);
    assert_int_equal(rc, STRATA_YIELD);
    request_reset_response(r);
    r->on_pool = 1;
    assert_int_equal(pipeline_run(r, f->rt), STRATA_OK);
    assert_int_equal(r->status, 200);
    assert_string_equal(body(r), "app:p");
}

static void pipeline__yield_on_pool_thread__is_500(void **state)
{
    struct fx *f = *state;
    build(f, "[app:main]\nuse = probe\naction = yield_always\n");
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 500);
}

/* ---- urlmap ---- */

#define URLMAP                                                                \
    "[app:root]\nuse = echo\nname = root\n"                                   \
    "[app:api]\nuse = echo\nname = api\n"                                     \
    "[app:v2]\nuse = echo\nname = v2\n"                                       \
    "[composite:main]\nuse = urlmap\n/ = root\n/api = api\n/api/v2/ = v2\n"

static void pipeline__urlmap__longest_prefix_with_script_name_split(void **state)
{
    struct fx *f = *state;
    build(f, URLMAP);
    struct {
        const char *uri, *app, *script, *path, *route;
    } cases[] = {
        {"/api/v2/users?x=1", "v2", "/api/v2", "/users", "/api/v2"},
        {"/api/v2/", "v2", "/api/v2", "/", "/api/v2"},
        {"/api/v2", "v2", "/api/v2", "", "/api/v2"},       /* Paste: exactly the prefix */
        {"/api/v20", "api", "/api", "/v20", "/api"},       /* a prefix ends at a '/' */
        {"/api/x", "api", "/api", "/x", "/api"},
        {"/apix", "root", "", "/apix", "/"},
        {"/", "root", "", "/", "/"},
        {"/other/deep", "root", "", "/other/deep", "/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct strata_request *r = req_new("GET", cases[i].uri);
        r->on_pool = 1;
        assert_int_equal(pipeline_run(r, f->rt), STRATA_OK);
        if (r->status != 200)
            fail_msg("%s: status %d", cases[i].uri, r->status);
        const char *got[] = {echo_field(r, "app"), echo_field(r, "script_name"),
                             echo_field(r, "path"), echo_field(r, "route")};
        const char *want[] = {cases[i].app, cases[i].script, cases[i].path, cases[i].route};
        for (int k = 0; k < 4; k++)
            if (strcmp(got[k], want[k]) != 0)
                fail_msg("%s: field %d is '%s', expected '%s'", cases[i].uri, k, got[k], want[k]);
        /* the split is undone once the mount returns */
        assert_string_equal(r->script_name, "");
        req_free(r);
    }
}

static void pipeline__urlmap__no_mount_matches__404(void **state)
{
    struct fx *f = *state;
    build(f, "[app:api]\nuse = echo\n[composite:main]\nuse = urlmap\n/api = api\n");
    struct strata_request *r = run(f, "/elsewhere");
    assert_int_equal(r->status, 404);
    assert_string_equal(body(r), "404 Not Found\n");
    r = run(f, "/apifoo");
    assert_int_equal(r->status, 404);
}

static void pipeline__urlmap__nested_composites_join_script_names(void **state)
{
    struct fx *f = *state;
    build(f, "[app:e]\nuse = echo\n[composite:inner]\nuse = urlmap\n/b = e\n"
             "[composite:main]\nuse = urlmap\n/a = inner\n");
    struct strata_request *r = run(f, "/a/b/c");
    assert_int_equal(r->status, 200);
    assert_string_equal(echo_field(r, "script_name"), "/a/b");
    assert_string_equal(echo_field(r, "path"), "/c");
}

static void pipeline__urlmap__mount_to_pipeline_runs_its_filters(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:t]\nuse = tag\ntag = t\n[app:e]\nuse = echo\n"
             "[pipeline:tagged]\npipeline = t e\n"
             "[composite:main]\nuse = urlmap\n/t = tagged\n/ = e\n");
    struct strata_request *r = run(f, "/t/x");
    assert_int_equal(r->status, 200);
    assert_string_equal(echo_field(r, "tags"), "t");
    assert_string_equal(hdr(r, "X-Tags"), "t");
    assert_string_equal(echo_field(r, "path"), "/x");
    r = run(f, "/x");
    assert_null(hdr(r, "X-Tags"));
}

static void pipeline__filter_before_composite__reaches_the_mount(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:t]\nuse = tag\ntag = t\n[app:e]\nuse = echo\n"
             "[composite:map]\nuse = urlmap\n/ = e\n"
             "[pipeline:main]\npipeline = t map\n");
    struct strata_request *r = run(f, "/x");
    /* once answered 500: the filter's next() into the urlmap was taken for a second one */
    assert_int_equal(r->status, 200);
    assert_string_equal(echo_field(r, "tags"), "t");
    assert_string_equal(hdr(r, "X-Tags"), "t");
}

static void pipeline__urlmap__mixed_case_prefix(void **state)
{
    struct fx *f = *state;
    build(f, "[app:e]\nuse = echo\nname = docs\n[app:r]\nuse = echo\nname = root\n"
             "[composite:main]\nuse = urlmap\n/Docs = e\n/ = r\n");
    struct strata_request *r = run(f, "/Docs/x");
    /* iniparser lowercases keys; the host restores a mount's case: paths are case-sensitive */
    assert_string_equal(echo_field(r, "app"), "docs");
    assert_string_equal(echo_field(run(f, "/docs/x"), "app"), "root");
}

/* ---- the host's own answers ---- */

static void pipeline__double_next__caught_and_ignored(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:t]\nuse = tag\ntag = t\ntwice = true\n[app:e]\nuse = echo\n"
             "[pipeline:main]\npipeline = t e\n");
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->n_timings, 2);          /* echo entered once */
    assert_string_equal(hdr(r, "X-Tags"), "t");
    assert_string_equal(echo_field(r, "app"), "echo");
}

static void pipeline__stage_fails__500(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:a]\nuse = tag\ntag = a\n[app:c]\nuse = crash\n[pipeline:main]\npipeline = a c\n");
    struct strata_request *r = run(f, "/fail");
    assert_int_equal(r->status, 500);
    assert_string_equal(body(r), "500 Internal Server Error\n");
    /* the filter still post-processes the host's 500 */
    assert_string_equal(hdr(r, "X-Tags"), "a");
    r = run(f, "/ok");
    assert_int_equal(r->status, 200);
}

static void pipeline__stage_answers_nothing__500(void **state)
{
    struct fx *f = *state;
    build(f, "[app:main]\nuse = crash\n");
    assert_int_equal(run(f, "/nothing")->status, 500);
}

static void pipeline__filter_fails_or_answers_nothing__500(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:p]\nuse = probe\naction = fail\n[app:e]\nuse = echo\n"
             "[pipeline:main]\npipeline = p e\n");
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 500);
    assert_int_equal(r->n_timings, 1);
    build(f, "[filter:p]\nuse = probe\naction = nothing\n[app:e]\nuse = echo\n"
             "[pipeline:main]\npipeline = p e\n");
    assert_int_equal(run(f, "/")->status, 500);
}

static void pipeline__fd_body__passes_filters_and_closed_when_replaced(void **state)
{
    struct fx *f = *state;
    build(f, "[app:fd]\nuse = probe\naction = fd\n[filter:q]\nuse = probe\n"
             "[pipeline:main]\npipeline = q fd\n");
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 200);
    assert_int_equal(r->body_kind, BODY_FD);
    int fd = r->body_fd;
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_string_equal(hdr(r, "X-Probe"), "filter:q");
    request_clear_response(r);                  /* as when the host answers instead */
    assert_true(fcntl(fd, F_GETFD) == -1);
}

static void pipeline__no_next_stage__500(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    /* a hand-made chain ending in a filter: its next() has nowhere to go */
    struct node nodes[1] = {{NODE_STAGE, inst_named(f->rt, "filter:a"), NULL}};
    struct chain ch = {"pipeline:broken", 1, nodes};
    struct runtime fake = *f->rt;
    fake.entry = &ch;
    struct strata_request *r = req_new("GET", "/");
    r->on_pool = 1;
    assert_int_equal(pipeline_run(r, &fake), STRATA_OK);
    assert_int_equal(r->status, 500);
    req_free(r);
}

struct run_args {
    struct strata_request *r;
    const struct runtime *rt;
};

static void *run_thread(void *arg)
{
    struct run_args *a = arg;
    pipeline_run(a->r, a->rt);
    pipeline_thread_exit();
    return NULL;
}

/* Start `uri` on another "pool thread" and wait until it is inside `in`. */
static pthread_t start_slow(struct run_args *a, struct instance *in)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, a), 0);
    int64_t deadline = now_ns() + 5000000000LL;
    while (atomic_load(&in->inflight) == 0 && now_ns() < deadline)
        usleep(1000);
    assert_int_equal(atomic_load(&in->inflight), 1);
    return th;
}

static void pipeline__concurrency_limit__503_beyond(void **state)
{
    struct fx *f = *state;
    build(f, "[app:main]\nuse = echo\nsleep = 0.5\nconcurrency = 1\n");
    struct instance *in = inst_named(f->rt, "app:main");
    /* one request holds the only slot ... */
    struct strata_request *slow = req_new("GET", "/slow");
    slow->on_pool = 1;
    struct run_args a = {slow, f->rt};
    pthread_t th = start_slow(&a, in);
    /* ... so the next one is refused at once */
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 503);
    assert_string_equal(hdr(r, "Retry-After"), "1");
    assert_string_equal(body(r), "503 Service Unavailable\n");
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(slow->status, 200);
    req_free(slow);
    /* and the slot is free again */
    assert_int_equal(atomic_load(&in->inflight), 0);
    assert_int_equal(run(f, "/")->status, 200);
}

static void pipeline__concurrency_on_filter__counts_stages_below(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:p]\nuse = pass\nconcurrency = 1\n[app:e]\nuse = echo\nsleep = 0.5\n"
             "[pipeline:main]\npipeline = p e\n");
    struct instance *in = inst_named(f->rt, "filter:p");
    struct strata_request *slow = req_new("GET", "/slow");
    slow->on_pool = 1;
    struct run_args a = {slow, f->rt};
    pthread_t th = start_slow(&a, in);
    assert_int_equal(run(f, "/")->status, 503);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(slow->status, 200);
    req_free(slow);
}

static void pipeline__timeout__answer_replaced_by_504(void **state)
{
    struct fx *f = *state;
    build(f, "[app:main]\nuse = echo\nsleep = 0.2\ntimeout = 0.05\n");
    struct strata_request *r = run(f, "/slow");
    assert_int_equal(r->status, 504);
    assert_string_equal(body(r), "504 Gateway Timeout\n");
    assert_int_equal(run(f, "/fast")->status, 200);
}

static void pipeline__huge_timeout__never_504(void **state)
{
    struct fx *f = *state;
    /* the largest timeout accepted (a day) never fires on a fast stage... */
    build(f, "[app:main]\nuse = echo\ntimeout = 86400\n");
    assert_int_equal(run(f, "/")->status, 200);
    /* ...and values whose nanoseconds overflow are refused at load */
    static const char *const values[] = {"1e10", "inf", "nan"};
    for (size_t i = 0; i < 3; i++) {
        char ini[4400];
        snprintf(ini, sizeof ini, "[server:main]\nplugin_path = %s\n[app:main]\nuse = echo\n"
                 "timeout = %s\n", testplugins_dir, values[i]);
        free(f->path);
        f->path = unit_write("p.ini", ini);
        runtime_free(f->rt);
        f->rt = runtime_build(f->path, NULL, 0, f->err, sizeof f->err);
        assert_null(f->rt);
        assert_contains(f->err, "timeout: expected seconds from 0 (none) to 86400");
    }
}

static void pipeline__long_pipeline__beyond_timing_slots(void **state)
{
    struct fx *f = *state;
    /* more stages than REQUEST_MAX_DEPTH timing slots still run in order */
    char ini[16384] = "", names[2048] = "";
    size_t n = 0, m = 0;
    for (int i = 0; i < 40; i++) {
        n += (size_t)snprintf(ini + n, sizeof ini - n, "[filter:t%d]\nuse = tag\ntag = %d\n", i, i);
        m += (size_t)snprintf(names + m, sizeof names - m, "t%d ", i);
    }
    snprintf(ini + n, sizeof ini - n, "[app:e]\nuse = echo\n[pipeline:main]\npipeline = %se\n", names);
    build(f, ini);
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 200);
    const char *tags = echo_field(r, "tags");
    assert_true(strncmp(tags, "0,1,2,", 6) == 0);
    assert_non_null(strstr(tags, ",38,39"));
    assert_int_equal(r->n_timings, REQUEST_MAX_DEPTH);
}

static void pipeline__on_complete__each_stage_that_ran(void **state)
{
    struct fx *f = *state;
    build(f, "[filter:outer]\nuse = probe\nlog = pipeline.log\n"
             "[filter:gate]\nuse = probe\nlog = pipeline.log\naction = answer\nstatus = 403\n"
             "[app:inner]\nuse = probe\nlog = pipeline.log\n"
             "[pipeline:main]\npipeline = outer gate inner\n");
    unlink(f->log);
    struct strata_request *r = run(f, "/");
    assert_int_equal(r->status, 403);
    assert_string_equal(hdr(r, "X-Probe"), "filter:outer");
    pipeline_complete(r, 1);
    assert_string_equal(read_log(f), "complete filter:outer 403\ncomplete filter:gate 403\n");
}

static void pipeline__vars__shared_between_stages(void **state)
{
    struct fx *f = *state;
    build(f, TAGS_AB_ECHO);
    struct strata_request *r = run(f, "/");
    assert_string_equal(var(r, "tags"), "a,b");
    /* "route" is the host's: the mount, "/" at the top */
    assert_string_equal(echo_field(r, "route"), "/");
}

int main(int argc, char **argv)
{
    if (testplugins_find(argc > 0 ? argv[0] : "") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(pipeline__filters__run_in_order_then_post_process_in_reverse),
        T(pipeline__filter_answers__short_circuits_inner_stages),
        T(pipeline__post_processing__sees_the_inner_answer),
        T(pipeline__stage_timings__present_and_nested),
        T(pipeline__stage_depth__outside_a_stage_is_zero),
        cmocka_unit_test(pipeline__elapsed_ns__agrees_with_the_monotonic_clock),
        T(pipeline__nested_pipelines__flattened_in_order),
        T(pipeline__blocking_stage_on_io_thread__yields_then_runs_on_pool),
        T(pipeline__all_nonblocking__no_yield_on_io_thread),
        T(pipeline__blocking_stage_on_pool__no_yield),
        T(pipeline__nonblocking_stage_asks_for_pool__yields),
        T(pipeline__yield_on_pool_thread__is_500),
        T(pipeline__urlmap__longest_prefix_with_script_name_split),
        T(pipeline__urlmap__no_mount_matches__404),
        T(pipeline__urlmap__nested_composites_join_script_names),
        T(pipeline__urlmap__mount_to_pipeline_runs_its_filters),
        T(pipeline__filter_before_composite__reaches_the_mount),
        T(pipeline__urlmap__mixed_case_prefix),
        T(pipeline__double_next__caught_and_ignored),
        T(pipeline__stage_fails__500),
        T(pipeline__stage_answers_nothing__500),
        T(pipeline__filter_fails_or_answers_nothing__500),
        T(pipeline__fd_body__passes_filters_and_closed_when_replaced),
        T(pipeline__no_next_stage__500),
        T(pipeline__concurrency_limit__503_beyond),
        T(pipeline__concurrency_on_filter__counts_stages_below),
        T(pipeline__timeout__answer_replaced_by_504),
        T(pipeline__huge_timeout__never_504),
        T(pipeline__long_pipeline__beyond_timing_slots),
        T(pipeline__on_complete__each_stage_that_ran),
        T(pipeline__vars__shared_between_stages),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
