/* test_profiling_threads.c — profiling under concurrency, for TSan:
 * 8 threads × 5,000 requests through the filter (test kit), each thread
 * its own requests and route, while another thread keeps rendering the
 * report pages; then the same load straight into per-thread slots. The
 * counts must come out exact and TSan must stay quiet. Its own binary,
 * so tests/tsan.list can name it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "textbuf.h"
#include "prof.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct strata_plugin strata_plugin;

#define STG(sec, plug, d, self, total, cpu)                                           \
    { .section = (sec), .plugin = (plug), .depth = (d), .self_ns = (self),            \
      .total_ns = (total), .cpu_ns = (cpu) }

#define THREADS 8
#define REQUESTS 5000

static stt_instance *inst;
static atomic_int writers_left;

struct worker {
    int id;
    int ok, with_header;
    const void *slot;
    int same_slot;
};

static int downstream(strata_request *req, void *ctx)
{
    int status = *(const int *)ctx;
    return stt_host()->respond(req, status, "text/plain", "x", 1);
}

static void *writer(void *arg)
{
    struct worker *w = arg;
    char route[16];
    snprintf(route, sizeof route, "/r%d", w->id);
    w->same_slot = 1;
    for (int i = 0; i < REQUESTS; i++) {
        strata_request *r = stt_request(i % 3 ? "GET" : "POST", "/work?i=1");
        stt_var(r, STRATA_VAR_ROUTE, route);
        int status = i % 100 == 0 ? 500 : 200;
        stt_on_next(r, downstream, &status);
        stt_timing(r, "filter:profiling", "profiling", 0, 0, 0, 0);
        stt_timing(r, "app:work", "work", 1, 20000 + i, 20000 + i, 15000);
        stt_stage_depth(r, 0);
        if (stt_run(inst, r) == STRATA_OK && stt_status(r) == status)
            w->ok++;
        const char *h = stt_header_out(r, "Server-Timing");
        if (h && strncmp(h, "app-work;dur=", 13) == 0)
            w->with_header++;
        const void *slot = stt_host()->thread_data(r);
        if (i == 0)
            w->slot = slot;
        else if (slot != w->slot)
            w->same_slot = 0;
        stt_free(r);
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *reader(void *arg)
{
    int *pages = arg;
    static const char *const uris[] = { "/__profile?format=json", "/__profile?format=prometheus",
                                        "/__profile" };
    while (atomic_load(&writers_left) > 0) {
        strata_request *r = stt_request("GET", uris[*pages % 3]);
        if (stt_run(inst, r) == STRATA_OK && stt_status(r) == 200)
            ++*pages;
        stt_free(r);
    }
    return NULL;
}

static long json_number(const char *body, const char *after, const char *key)
{
    const char *at = after ? strstr(body, after) : body;
    if (!at || !(at = strstr(at, key)))
        return -1;
    return strtol(at + strlen(key), NULL, 10);
}

static void profiling__8_threads_through_the_filter__exact_counts(void **state)
{
    (void)state;
    inst = stt_create(&strata_plugin, NULL, NULL);
    assert_non_null(inst);
    /* One request first, so the kit's lazy slot set-up is not raced. */
    strata_request *r0 = stt_request("GET", "/warm");
    int st = 200;
    stt_on_next(r0, downstream, &st);
    assert_int_equal(stt_run(inst, r0), STRATA_OK);
    stt_free(r0);
    strata_request *rs = stt_request("POST", "/__profile?reset=1");
    assert_int_equal(stt_run(inst, rs), STRATA_OK);
    assert_int_equal(stt_status(rs), 303);
    stt_free(rs);

    pthread_t th[THREADS], rd;
    struct worker w[THREADS];
    int pages = 0;
    atomic_store(&writers_left, THREADS);
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){ .id = t };
        assert_int_equal(pthread_create(&th[t], NULL, writer, &w[t]), 0);
    }
    assert_int_equal(pthread_create(&rd, NULL, reader, &pages), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_join(rd, NULL);

    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(w[t].ok, REQUESTS);
        assert_int_equal(w[t].with_header, REQUESTS);
        assert_true(w[t].same_slot);
        assert_non_null(w[t].slot);
        for (int u = 0; u < t; u++)
            assert_ptr_not_equal(w[u].slot, w[t].slot);   /* one slot per thread */
    }
    assert_true(pages > 0);

    strata_request *r = stt_request("GET", "/__profile?format=json");
    assert_int_equal(stt_run(inst, r), STRATA_OK);
    const char *body = stt_body_out(r, NULL);
    assert_int_equal(json_number(body, NULL, "\"requests\":"), THREADS * REQUESTS);
    for (int t = 0; t < THREADS; t++) {
        char key[64];
        snprintf(key, sizeof key, "\"method\":\"GET\",\"route\":\"/r%d\"", t);
        long get = json_number(body, key, "\"count\":");
        long get_errs = json_number(body, key, "\"errors\":");
        snprintf(key, sizeof key, "\"method\":\"POST\",\"route\":\"/r%d\"", t);
        long post = json_number(body, key, "\"count\":");
        long post_errs = json_number(body, key, "\"errors\":");
        assert_int_equal(get + post, REQUESTS);
        assert_int_equal(post, (REQUESTS + 2) / 3);          /* i % 3 == 0 */
        assert_int_equal(get_errs + post_errs, REQUESTS / 100);
        assert_int_equal(post_errs, (REQUESTS + 299) / 300);  /* i % 300 == 0 */
    }
    const char *stage = strstr(body, "\"stages\":[{\"section\":\"app:work\",\"plugin\":\"work\",");
    assert_non_null(stage);
    assert_int_equal(json_number(stage, NULL, "\"count\":"), THREADS * REQUESTS);
    stt_free(r);
    stt_destroy(inst);
}

/* ---- straight into per-thread slots: the design itself ---- */

static struct prof P;

static void *slot_writer(void *arg)
{
    int id = *(int *)arg;
    struct prof_thread *t = prof_thread_new(&P);
    struct prof_stage st[2] = {
        STG("filter:auth", "auth", 1, 2000, 9000, 1500),
        STG("app:static", "static", 2, 7000, 7000, 6000),
    };
    char route[16];
    snprintf(route, sizeof route, "/s%d", id);
    for (int i = 0; i < REQUESTS; i++) {
        st[1].self_ns = 1000 + i;
        prof_record(&P, t, "GET", route, i % 50 ? 200 : 503, 20000 + i, st, 2);
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *slot_reader(void *arg)
{
    int *views = arg;
    while (atomic_load(&writers_left) > 0) {
        struct prof_view v;
        if (prof_view_make(&P, &v) == 0) {
            sbuf b = { 0 };
            prof_render_prometheus(&v, &b);
            prof_render_json(&v, &b);
            sb_free(&b);
            prof_view_free(&v);
            ++*views;
        }
    }
    return NULL;
}

static void prof__8_slots_with_a_reader__exact_counts(void **state)
{
    (void)state;
    assert_int_equal(prof_init(&P, 64), 0);
    pthread_t th[THREADS], rd;
    int ids[THREADS], views = 0;
    atomic_store(&writers_left, THREADS);
    for (int t = 0; t < THREADS; t++) {
        ids[t] = t;
        assert_int_equal(pthread_create(&th[t], NULL, slot_writer, &ids[t]), 0);
    }
    assert_int_equal(pthread_create(&rd, NULL, slot_reader, &views), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_join(rd, NULL);
    struct prof_view v;
    assert_int_equal(prof_view_make(&P, &v), 0);
    assert_int_equal(v.n_routes, THREADS);
    for (int r = 0; r < v.n_routes; r++) {
        assert_int_equal(v.routes[r].h.count, REQUESTS);
        assert_int_equal(v.routes[r].h.errors, REQUESTS / 50);
        assert_int_equal(v.routes[r].h.max_ns, 20000 + REQUESTS - 1);
    }
    assert_int_equal(v.n_stages, 2);
    assert_int_equal(v.stages[0].h.count, THREADS * REQUESTS);
    assert_int_equal(v.stages[1].h.count, THREADS * REQUESTS);
    assert_int_equal(v.stages[1].h.max_ns, 1000 + REQUESTS - 1);
    prof_view_free(&v);
    prof_fini(&P);
    assert_true(views >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profiling__8_threads_through_the_filter__exact_counts),
        cmocka_unit_test(prof__8_slots_with_a_reader__exact_counts),
    };
    setvbuf(stdout, NULL, _IONBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
