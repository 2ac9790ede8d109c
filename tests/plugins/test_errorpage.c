/* test_errorpage.c — the errorpage filter against the SDK test kit.
 * Pages are written into a fresh mkdtemp folder per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;

typedef struct fixture {
    char dir[64];
} fixture;

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0755);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/strata-errorpage-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    write_file(f->dir, "errors/404.html", "<h1>not here</h1>");
    write_file(f->dir, "errors/5xx.html", "<h1>broken</h1>");
    write_file(f->dir, "errors/503.html", "<h1>busy</h1>");
    write_file(f->dir, "custom/gone.html", "<h1>gone</h1>");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static int downstream_401(strata_request *req, void *ctx)
{
    const strata_host *h = stt_host();
    h->respond(req, 401, "application/json", "{\"error\":1}", 11);
    h->set_header(req, "WWW-Authenticate", "Basic realm=\"x\"");
    h->set_header(req, "Content-Encoding", "gzip");
    h->set_header(req, "ETag", "\"abc\"");
    return STRATA_OK;
}

static void assert_body(strata_request *req, const char *want)
{
    size_t len = 0;
    const char *body = stt_body_out(req, &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(body, want, len);
}

static strata_request *run(stt_instance *inst, const char *method, int status, const char *body)
{
    strata_request *req = stt_request(method, "/missing");
    will_return(stt_next, status);
    will_return(stt_next, body);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    return req;
}

static void errorpage__pages_404__body_replaced_status_kept(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "pages",
                                    "404=errors/404.html 410=custom/gone.html", NULL);
    assert_non_null(inst);
    strata_request *req = run(inst, "GET", 404, "Not Found");
    assert_int_equal(stt_status(req), 404);
    assert_body(req, "<h1>not here</h1>");
    assert_string_equal(stt_header_out(req, "Content-Type"), "text/html; charset=utf-8");
    stt_free(req);

    req = run(inst, "GET", 410, NULL);   /* no body at all downstream */
    assert_body(req, "<h1>gone</h1>");
    stt_free(req);
    stt_destroy(inst);
}

static void errorpage__other_status__untouched(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "pages", "404=errors/404.html", NULL);
    assert_non_null(inst);
    int statuses[] = {200, 301, 403, 500};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        strata_request *req = run(inst, "GET", statuses[i], "orig");
        assert_int_equal(stt_status(req), statuses[i]);
        assert_body(req, "orig");
        assert_null(stt_header_out(req, "Content-Type"));
        stt_free(req);
    }
    stt_destroy(inst);
}

static void errorpage__dir__exact_before_class(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "dir", "errors", NULL);
    assert_non_null(inst);
    strata_request *req = run(inst, "GET", 503, "x");
    assert_body(req, "<h1>busy</h1>");
    stt_free(req);
    req = run(inst, "GET", 502, "x");
    assert_body(req, "<h1>broken</h1>");
    assert_int_equal(stt_status(req), 502);
    stt_free(req);
    req = run(inst, "GET", 404, "x");
    assert_body(req, "<h1>not here</h1>");
    stt_free(req);
    req = run(inst, "GET", 405, "x");   /* no 405.html, no 4xx.html */
    assert_body(req, "x");
    stt_free(req);
    stt_destroy(inst);
}

static void errorpage__pages_override_dir(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "dir", "errors", "pages",
                                    "404=custom/gone.html,4xx=custom/gone.html", NULL);
    assert_non_null(inst);
    strata_request *req = run(inst, "GET", 404, "x");
    assert_body(req, "<h1>gone</h1>");
    stt_free(req);
    req = run(inst, "GET", 418, "x");
    assert_body(req, "<h1>gone</h1>");
    stt_free(req);
    stt_destroy(inst);
}

static void errorpage__stale_headers_dropped_others_kept(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "pages", "4xx=errors/404.html",
                                    "content_type", "text/html", NULL);
    strata_request *req = stt_request("HEAD", "/private/");
    stt_on_next(req, downstream_401, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 401);
    assert_string_equal(stt_header_out(req, "WWW-Authenticate"), "Basic realm=\"x\"");
    assert_null(stt_header_out(req, "Content-Encoding"));
    assert_null(stt_header_out(req, "ETag"));
    assert_string_equal(stt_header_out(req, "Content-Type"), "text/html");
    /* HEAD: the body is set so that the host's Content-Length is right */
    assert_int_equal(stt_host()->resp_length(req), (int64_t)strlen("<h1>not here</h1>"));
    stt_free(req);
    stt_destroy(inst);
}

static void errorpage__missing_file__config_error(void **state)
{
    fixture *f = *state;
    assert_null(stt_create(&strata_plugin, f->dir, "pages", "404=nope.html", NULL));
    char want[256];
    snprintf(want, sizeof want,
             "[filter:errorpage] pages: cannot read '%s/nope.html': No such file or directory",
             f->dir);
    assert_string_equal(stt_last_error(), want);
}

static void errorpage__bad_status__config_error(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"200=errors/404.html", "4x4=errors/404.html", "404", "404=",
                         "6xx=errors/404.html", "40=errors/404.html"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(stt_create(&strata_plugin, f->dir, "pages", bad[i], NULL));
        assert_non_null(strstr(stt_last_error(), "[filter:errorpage] pages: expected STATUS=FILE"));
    }
}

static void errorpage__nothing_configured__config_error(void **state)
{
    fixture *f = *state;
    assert_null(stt_create(&strata_plugin, f->dir, NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:errorpage] pages: no page configured: set 'pages' or 'dir'");
    assert_null(stt_create(&strata_plugin, f->dir, "dir", "custom", NULL));
    assert_non_null(strstr(stt_last_error(), "[filter:errorpage] dir: no page found"));
    assert_null(stt_create(&strata_plugin, f->dir, "dir", "nowhere", NULL));
    assert_non_null(strstr(stt_last_error(), "cannot open folder"));
    assert_null(stt_create(&strata_plugin, f->dir, "pages", "404=errors", NULL));
    assert_non_null(strstr(stt_last_error(), "not a regular file"));
}

static int downstream_yield(strata_request *req, void *ctx)
{
    return STRATA_YIELD;
}

static void errorpage__yield__passed_through(void **state)
{
    fixture *f = *state;
    stt_instance *inst = stt_create(&strata_plugin, f->dir, "dir", "errors", NULL);
    strata_request *req = stt_request("GET", "/");
    stt_on_next(req, downstream_yield, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_YIELD);
    stt_free(req);
    stt_destroy(inst);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(errorpage__pages_404__body_replaced_status_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(errorpage__other_status__untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(errorpage__dir__exact_before_class, setup, teardown),
        cmocka_unit_test_setup_teardown(errorpage__pages_override_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(errorpage__stale_headers_dropped_others_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(errorpage__missing_file__config_error, setup, teardown),
        cmocka_unit_test_setup_teardown(errorpage__bad_status__config_error, setup, teardown),
        cmocka_unit_test_setup_teardown(errorpage__nothing_configured__config_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(errorpage__yield__passed_through, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
