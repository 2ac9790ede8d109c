/* test_headers.c — the headers filter against the SDK test kit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <stdio.h>
#include <string.h>

extern const struct strata_plugin strata_plugin;

/* ---- a downstream that answers with a few headers ---- */

static int downstream(strata_request *req, void *ctx)
{
    const strata_host *h = stt_host();
    (void)ctx;
    h->respond(req, 200, "text/plain", "hello", 5);
    h->set_header(req, "X-Powered-By", "php");
    h->set_header(req, "X-Frame-Options", "DENY");
    h->set_header(req, "Cache-Control", "no-cache");
    return STRATA_OK;
}

static int downstream_vary(strata_request *req, void *ctx)
{
    downstream(req, ctx);
    stt_host()->set_header(req, "Vary", "Accept-Encoding");
    return STRATA_OK;
}

static int downstream_yield(strata_request *req, void *ctx)
{
    (void)req;
    (void)ctx;
    return STRATA_YIELD;
}

struct count_ctx {
    const char *name;
    int n;
    char values[256];
};

static int count_cb(void *p, const char *name, const char *value)
{
    struct count_ctx *c = p;
    if (strcasecmp(name, c->name) == 0) {
        if (c->n++)
            strcat(c->values, ",");
        strncat(c->values, value, sizeof c->values - strlen(c->values) - 2);
    }
    return 0;
}

static struct count_ctx count_headers(strata_request *req, const char *name)
{
    struct count_ctx c = {name, 0, ""};
    stt_host()->resp_header_each(req, count_cb, &c);
    return c;
}

static strata_request *run_get(stt_instance *inst, const char *method, const char *origin)
{
    strata_request *req = stt_request(method, "/x");
    if (origin)
        stt_header(req, "Origin", origin);
    stt_on_next(req, downstream, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    return req;
}

/* ---- set / add / remove ---- */

static void headers__set__replaces_downstream_value(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL,
                                    "set", "X-Frame-Options: SAMEORIGIN | X-Extra: a=b", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_int_equal(stt_status(req), 200);
    struct count_ctx c = count_headers(req, "X-Frame-Options");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.values, "SAMEORIGIN");
    assert_string_equal(stt_header_out(req, "X-Extra"), "a=b");
    size_t len = 0;
    const char *body = stt_body_out(req, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "hello", 5);
    stt_free(req);
    stt_destroy(inst);
}

static void headers__add__appends_second_value(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "add", "Cache-Control: private", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    struct count_ctx c = count_headers(req, "Cache-Control");
    assert_int_equal(c.n, 2);
    assert_string_equal(c.values, "no-cache,private");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__set_default__only_when_missing(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "set_default",
                                    "X-Frame-Options: SAMEORIGIN | Cache-Control2: max-age=60",
                                    NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_string_equal(stt_header_out(req, "X-Frame-Options"), "DENY");
    assert_string_equal(stt_header_out(req, "Cache-Control2"), "max-age=60");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__remove__drops_every_value(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "remove", "x-powered-by, Cache-Control",
                                    NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_null(stt_header_out(req, "X-Powered-By"));
    assert_null(stt_header_out(req, "Cache-Control"));
    assert_string_equal(stt_header_out(req, "Content-Type"), "text/plain");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__escaped_pipe__kept_in_value(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "set",
                                    "X-A: one \\| two |X-B:three;four", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_string_equal(stt_header_out(req, "X-A"), "one | two");
    assert_string_equal(stt_header_out(req, "X-B"), "three;four");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__security__fills_missing_keeps_downstream(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "security", "true", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_string_equal(stt_header_out(req, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(stt_header_out(req, "X-Frame-Options"), "DENY");
    assert_string_equal(stt_header_out(req, "Referrer-Policy"), "strict-origin-when-cross-origin");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__security_off__adds_nothing(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", NULL);
    assert_null(stt_header_out(req, "X-Content-Type-Options"));
    assert_null(stt_header_out(req, "Vary"));
    stt_free(req);
    stt_destroy(inst);
}

static void headers__bad_entry__config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, "set", "X-Frame-Options DENY", NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:headers] set: expected 'Name: value' entries separated by '|', "
                        "got 'X-Frame-Options DENY'");
    assert_null(stt_create(&strata_plugin, NULL, "add", "Bad Name: x", NULL));
    assert_non_null(strstr(stt_last_error(), "[filter:headers] add:"));
}

static void headers__set_and_remove_same__config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, "set", "Server: x", "remove", "server", NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:headers] remove: 'Server' is both removed and in 'set'");
}

static void headers__yield_from_next__returned_untouched(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "security", "true", NULL);
    strata_request *req = stt_request("GET", "/");
    stt_on_next(req, downstream_yield, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_YIELD);
    assert_null(stt_header_out(req, "X-Content-Type-Options"));
    stt_free(req);
    stt_destroy(inst);
}

/* ---- CORS ---- */

static strata_request *preflight(stt_instance *inst, const char *origin, const char *req_headers)
{
    strata_request *req = stt_request("OPTIONS", "/api");
    stt_header(req, "Origin", origin);
    stt_header(req, "Access-Control-Request-Method", "PUT");
    if (req_headers)
        stt_header(req, "Access-Control-Request-Headers", req_headers);
    stt_on_next(req, downstream, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    return req;
}

static void headers__cors_preflight_allowed__204_without_next(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins",
                                    "https://app.example.com", "cors_max_age", "120",
                                    "security", "true", NULL);
    assert_non_null(inst);
    strata_request *req = preflight(inst, "https://app.example.com", "content-type, x-token");
    assert_int_equal(stt_next_calls(req), 0);
    assert_int_equal(stt_status(req), 204);
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Origin"),
                        "https://app.example.com");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Methods"),
                        "GET, HEAD, PUT, PATCH, POST, DELETE");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Headers"),
                        "content-type, x-token");
    assert_string_equal(stt_header_out(req, "Access-Control-Max-Age"), "120");
    assert_string_equal(stt_header_out(req, "Vary"), "Access-Control-Request-Headers, Origin");
    assert_string_equal(stt_header_out(req, "X-Content-Type-Options"), "nosniff");
    assert_null(stt_header_out(req, "Access-Control-Allow-Credentials"));
    assert_true(stt_host()->resp_length(req) <= 0);
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_preflight_configured_headers__not_reflected(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins", "*", "cors_headers",
                                    "Content-Type Authorization", "cors_methods", "GET,POST",
                                    "cors_max_age", "0", NULL);
    assert_non_null(inst);
    strata_request *req = preflight(inst, "https://x.test", "x-evil");
    assert_int_equal(stt_status(req), 204);
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Headers"),
                        "Content-Type, Authorization");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Methods"), "GET, POST");
    assert_null(stt_header_out(req, "Access-Control-Max-Age"));
    assert_null(stt_header_out(req, "Vary"));
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_preflight_disallowed__passes_to_next(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins",
                                    "https://app.example.com", NULL);
    strata_request *req = preflight(inst, "https://evil.example", NULL);
    assert_int_equal(stt_next_calls(req), 1);
    assert_int_equal(stt_status(req), 200);
    assert_null(stt_header_out(req, "Access-Control-Allow-Origin"));
    assert_string_equal(stt_header_out(req, "Vary"), "Origin");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_actual_request__origin_echoed_with_vary(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins",
                                    "https://a.test https://b.test", "cors_credentials", "yes",
                                    "cors_expose", "X-Total, ETag", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", "https://b.test");
    assert_int_equal(stt_next_calls(req), 1);
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Origin"), "https://b.test");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(stt_header_out(req, "Access-Control-Expose-Headers"), "X-Total, ETag");
    assert_string_equal(stt_header_out(req, "Vary"), "Origin");
    stt_free(req);

    req = run_get(inst, "GET", NULL);   /* no Origin: no CORS, still Vary */
    assert_null(stt_header_out(req, "Access-Control-Allow-Origin"));
    assert_string_equal(stt_header_out(req, "Vary"), "Origin");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_star_with_credentials__echoes_origin(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins", "*",
                                    "cors_credentials", "true", NULL);
    strata_request *req = run_get(inst, "POST", "https://any.test");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Origin"), "https://any.test");
    assert_string_equal(stt_header_out(req, "Vary"), "Origin");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_glob_origin__matches_subdomain_only(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins",
                                    "https://*.example.com", NULL);
    assert_non_null(inst);
    strata_request *req = run_get(inst, "GET", "https://a.b.Example.com");
    assert_string_equal(stt_header_out(req, "Access-Control-Allow-Origin"),
                        "https://a.b.Example.com");
    stt_free(req);
    const char *bad[] = {"https://example.com", "https://evilexample.com",
                         "https://evil.test/.example.com", "http://a.example.com"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        req = run_get(inst, "GET", bad[i]);
        assert_null(stt_header_out(req, "Access-Control-Allow-Origin"));
        stt_free(req);
    }
    stt_destroy(inst);
}

static void headers__cors_vary__merged_with_downstream(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins", "https://a.test", NULL);
    strata_request *req = stt_request("GET", "/");
    stt_header(req, "Origin", "https://a.test");
    stt_on_next(req, downstream_vary, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_string_equal(stt_header_out(req, "Vary"), "Accept-Encoding, Origin");
    stt_free(req);
    stt_destroy(inst);
}

static void headers__cors_bad_options__config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, "cors_origins", "app.example.com", NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:headers] cors_origins: expected '*' or origins like "
                        "'https://example.com', got 'app.example.com'");
    assert_null(stt_create(&strata_plugin, NULL, "cors_origins", "https://a.test/path", NULL));
    assert_non_null(strstr(stt_last_error(), "an origin has no path"));
    assert_null(stt_create(&strata_plugin, NULL, "cors_credentials", "true", NULL));
    assert_non_null(strstr(stt_last_error(), "[filter:headers] cors_origins:"));
    assert_null(stt_create(&strata_plugin, NULL, "cors_origins", "*", "cors_max_age", "-1", NULL));
    assert_non_null(strstr(stt_last_error(), "cors_max_age"));
    stt_instance *inst = stt_create(&strata_plugin, NULL, "cors_origins", "null", NULL);
    assert_non_null(inst);
    stt_destroy(inst);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers__set__replaces_downstream_value),
        cmocka_unit_test(headers__add__appends_second_value),
        cmocka_unit_test(headers__set_default__only_when_missing),
        cmocka_unit_test(headers__remove__drops_every_value),
        cmocka_unit_test(headers__escaped_pipe__kept_in_value),
        cmocka_unit_test(headers__security__fills_missing_keeps_downstream),
        cmocka_unit_test(headers__security_off__adds_nothing),
        cmocka_unit_test(headers__bad_entry__config_error),
        cmocka_unit_test(headers__set_and_remove_same__config_error),
        cmocka_unit_test(headers__yield_from_next__returned_untouched),
        cmocka_unit_test(headers__cors_preflight_allowed__204_without_next),
        cmocka_unit_test(headers__cors_preflight_configured_headers__not_reflected),
        cmocka_unit_test(headers__cors_preflight_disallowed__passes_to_next),
        cmocka_unit_test(headers__cors_actual_request__origin_echoed_with_vary),
        cmocka_unit_test(headers__cors_star_with_credentials__echoes_origin),
        cmocka_unit_test(headers__cors_glob_origin__matches_subdomain_only),
        cmocka_unit_test(headers__cors_vary__merged_with_downstream),
        cmocka_unit_test(headers__cors_bad_options__config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
