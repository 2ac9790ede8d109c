/* test_status.c — the status page over a fake scoreboard.
 *
 * The test kit reports no workers or threads, so these tests put fake
 * ones into the kit's host table (stt_host() points at a table the kit
 * owns and fills once; it is not const storage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct strata_plugin strata_plugin;

static const char *section_as = NULL;     /* NULL: the kit's own name */
static const char *(*kit_section_name)(const strata_section *);

static const char *fake_section_name(const strata_section *sec)
{
    return section_as ? section_as : kit_section_name(sec);
}

static int fake_workers(strata_worker_info *out, int max)
{
    if (max < 2)
        return 0;
    memset(out, 0, 2 * sizeof *out);
    for (int i = 0; i < 2; i++) {
        out[i].worker = i;
        out[i].pid = 4100 + i;
        out[i].started_unix = (int64_t)time(NULL) - 3725;
        out[i].requests = 1000 * (uint64_t)(i + 1);
        out[i].by_class[2] = 900 * (uint64_t)(i + 1);
        out[i].by_class[4] = 90 * (uint64_t)(i + 1);
        out[i].by_class[5] = 10 * (uint64_t)(i + 1);
        out[i].threads = 2;
        out[i].queue_depth = i;
        out[i].queue_limit = 64;
        out[i].connections = 3;
        out[i].generation = 1;
    }
    return 2;
}

static int n_fake_threads = 3;
static const char *req0 = "GET /slow/<b>?token=hunter2";

/* Fills at most `max`, as the host does: the page must grow its array. */
static int fake_threads(strata_thread_info *out, int max)
{
    int n = 0;
    for (int i = 0; i < n_fake_threads && n < max; i++, n++) {
        strata_thread_info *t = &out[n];
        memset(t, 0, sizeof *t);
        t->worker = i % 2;
        t->pid = 4100 + i % 2;
        t->thread = i / 2;
        t->requests = 10 + (uint64_t)i;
        if (i == 0) {
            t->busy = 1;
            t->elapsed_us = 2500000;
            snprintf(t->request, sizeof t->request, "%s", req0);
            snprintf(t->client, sizeof t->client, "127.0.0.1");
            snprintf(t->stage, sizeof t->stage, "app:sleepy");
        } else if (i == 1) {
            t->busy = 1;
            t->elapsed_us = 800;
            snprintf(t->request, sizeof t->request, "GET /__status");
            snprintf(t->client, sizeof t->client, "10.0.0.7");
            snprintf(t->stage, sizeof t->stage, "filter:status");
        }
    }
    return n;
}

static int fake_instances(strata_instance_info *out, int max)
{
    if (max < 2)
        return 0;
    out[0] = (strata_instance_info){ "filter:status", "status", "1.0", "/x/status.so" };
    out[1] = (strata_instance_info){ "app:sleepy", "sleepy", "1.0", "/x/sleepy.so" };
    return 2;
}

static int setup(void **state)
{
    (void)state;
    strata_host *h = (strata_host *)stt_host();
    if (!kit_section_name)
        kit_section_name = h->section_name;
    h->section_name = fake_section_name;
    h->workers = fake_workers;
    h->threads = fake_threads;
    h->instances = fake_instances;
    section_as = NULL;
    n_fake_threads = 3;
    req0 = "GET /slow/<b>?token=hunter2";
    return 0;
}

static stt_instance *make(const char *k, const char *v)
{
    stt_instance *i = stt_create(&strata_plugin, NULL, k, v, NULL);
    if (!i)
        fail_msg("create: %s", stt_last_error());
    return i;
}

static strata_request *get(stt_instance *i, const char *uri)
{
    strata_request *r = stt_request("GET", uri);
    stt_header(r, "Authorization", "Basic dXNlcjpzZWNyZXQ=");
    stt_header(r, "Cookie", "session=abcdef");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    return r;
}

static void status__json__workers_threads_totals_plugins(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL);
    strata_request *r = get(i, "/?format=json");
    assert_int_equal(stt_status(r), 200);
    assert_string_equal(stt_header_out(r, "Content-Type"), "application/json");
    assert_string_equal(stt_header_out(r, "Cache-Control"), "no-store");
    const char *b = stt_body_out(r, NULL);
    assert_non_null(strstr(b, "\"version\":\"test-kit\""));
    assert_non_null(strstr(b, "\"totals\":{\"requests\":3000,\"1xx\":0,\"2xx\":2700,\"3xx\":0,"
                              "\"4xx\":270,\"5xx\":30,\"threads\":3,\"busy\":2,\"queue_depth\":1,"
                              "\"queue_limit\":128,\"connections\":6}"));
    assert_non_null(strstr(b, "{\"worker\":1,\"pid\":4101,"));
    assert_non_null(strstr(b, "\"busy\":true,\"requests\":10,\"elapsed_ms\":2500.000,"
                              "\"request\":\"GET /slow/<b>\",\"client\":\"127.0.0.1\","
                              "\"stage\":\"app:sleepy\"}"));
    assert_non_null(strstr(b, "\"thread\":1,\"busy\":false,\"requests\":12}"));
    assert_non_null(strstr(b, "{\"section\":\"app:sleepy\",\"plugin\":\"sleepy\",\"version\":"
                              "\"1.0\",\"path\":\"/x/sleepy.so\"}"));
    long up = strtol(strstr(b, "\"uptime_s\":") + 11, NULL, 10);
    assert_true(up >= 3725 && up < 3800);
    stt_free(r);
    stt_destroy(i);
}

static void status__never_shows_queries_or_headers(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL);
    for (int k = 0; k < 2; k++) {
        strata_request *r = get(i, k ? "/?format=json" : "/");
        const char *b = stt_body_out(r, NULL);
        assert_null(strstr(b, "hunter2"));
        assert_null(strstr(b, "token"));
        assert_null(strstr(b, "dXNlcjpzZWNyZXQ"));
        assert_null(strstr(b, "session=abcdef"));
        assert_null(strstr(b, "Authorization"));
        stt_free(r);
    }
    stt_destroy(i);
}

static void status__html__refreshes_and_escapes(void **state)
{
    (void)state;
    stt_instance *i = make("refresh", "5");
    strata_request *r = get(i, "/anything");
    assert_int_equal(stt_status(r), 200);
    assert_string_equal(stt_header_out(r, "Content-Type"), "text/html; charset=utf-8");
    const char *b = stt_body_out(r, NULL);
    assert_non_null(strstr(b, "<meta http-equiv=refresh content=\"5\">"));
    assert_non_null(strstr(b, "GET /slow/&lt;b&gt;"));
    assert_null(strstr(b, "<b>"));
    assert_non_null(strstr(b, "app:sleepy"));
    assert_non_null(strstr(b, "2.5 s"));
    assert_non_null(strstr(b, "[filter:status]"));
    assert_non_null(strstr(b, "up 1h 02m"));
    assert_null(strstr(b, "<script"));
    assert_null(strstr(b, "src="));
    stt_free(r);
    stt_destroy(i);
}

static void status__invalid_utf8__replaced_in_html_and_json(void **state)
{
    (void)state;
    req0 = "GET /a\xff\xc3\"b\x01";
    stt_instance *i = make(NULL, NULL);
    strata_request *r = get(i, "/?format=json");
    assert_non_null(strstr(stt_body_out(r, NULL), "\"request\":\"GET /a\\ufffd\\ufffd\\\"b\\u0001\""));
    stt_free(r);
    r = get(i, "/");
    const char *b = stt_body_out(r, NULL);
    assert_non_null(strstr(b, "GET /a\xef\xbf\xbd\xef\xbf\xbd&quot;b"));
    assert_null(strstr(b, "\xff"));
    stt_free(r);
    stt_destroy(i);
}

static void status__refresh_zero__no_meta_refresh(void **state)
{
    (void)state;
    stt_instance *i = make("refresh", "0");
    strata_request *r = get(i, "/");
    assert_null(strstr(stt_body_out(r, NULL), "http-equiv=refresh"));
    stt_free(r);
    stt_destroy(i);
}

static void status__many_threads__all_listed(void **state)
{
    (void)state;
    n_fake_threads = 1000;      /* more than the first array holds */
    stt_instance *i = make(NULL, NULL);
    strata_request *r = get(i, "/?format=json");
    const char *b = stt_body_out(r, NULL);
    assert_non_null(strstr(b, "\"threads\":1000,"));
    assert_non_null(strstr(b, "\"thread\":499,"));
    stt_free(r);
    stt_destroy(i);
}

static void status__as_filter__answers_on_path_only(void **state)
{
    (void)state;
    section_as = "filter:status";
    stt_instance *i = make(NULL, NULL);
    strata_request *r = stt_request("GET", "/other");
    will_return(stt_next, 204);
    will_return(stt_next, NULL);
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_next_calls(r), 1);
    assert_int_equal(stt_status(r), 204);
    stt_free(r);
    r = get(i, "/__status?format=json");
    assert_int_equal(stt_next_calls(r), 0);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

static void status__as_app__answers_everywhere(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL);
    strata_request *r = get(i, "/whatever/here");
    assert_int_equal(stt_next_calls(r), 0);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

static void status__bad_method_or_format__4xx(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL);
    strata_request *r = stt_request("POST", "/");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 405);
    assert_string_equal(stt_header_out(r, "Allow"), "GET, HEAD");
    stt_free(r);
    r = get(i, "/?format=yaml");
    assert_int_equal(stt_status(r), 400);
    stt_free(r);
    stt_destroy(i);
}

static void status__bad_path__config_error(void **state)
{
    (void)state;
    assert_null(stt_create(&strata_plugin, NULL, "path", "status", NULL));
    assert_non_null(strstr(stt_last_error(), "path: must start with '/', got 'status'"));
    assert_null(stt_create(&strata_plugin, NULL, "refresh", "-1", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(status__json__workers_threads_totals_plugins, setup),
        cmocka_unit_test_setup(status__never_shows_queries_or_headers, setup),
        cmocka_unit_test_setup(status__html__refreshes_and_escapes, setup),
        cmocka_unit_test_setup(status__invalid_utf8__replaced_in_html_and_json, setup),
        cmocka_unit_test_setup(status__refresh_zero__no_meta_refresh, setup),
        cmocka_unit_test_setup(status__many_threads__all_listed, setup),
        cmocka_unit_test_setup(status__as_filter__answers_on_path_only, setup),
        cmocka_unit_test_setup(status__as_app__answers_everywhere, setup),
        cmocka_unit_test_setup(status__bad_method_or_format__4xx, setup),
        cmocka_unit_test_setup(status__bad_path__config_error, setup),
    };
    setvbuf(stdout, NULL, _IONBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
