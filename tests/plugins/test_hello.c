/* test_hello.c — the hello plugin under cmocka, with no server: the SDK
 * test kit instantiates it from options and runs requests through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "strata-test.h"

extern const struct strata_plugin strata_plugin;

static void hello__default_greeting__says_hello_and_the_path(void **state)
{
    stt_instance *app = stt_create(&strata_plugin, NULL, NULL);
    assert_non_null(app);
    strata_request *req = stt_request("GET", "/world");
    assert_int_equal(stt_run(app, req), STRATA_OK);
    assert_int_equal(stt_status(req), 200);
    assert_string_equal(stt_body_out(req, NULL), "Hello, /world\n");
    assert_string_equal(stt_header_out(req, "Content-Type"), "text/plain; charset=utf-8");
    stt_free(req);
    stt_destroy(app);
}

static void hello__repeat_option__repeats(void **state)
{
    stt_instance *app = stt_create(&strata_plugin, NULL, "greeting", "Hi", "repeat", "2", NULL);
    assert_non_null(app);
    strata_request *req = stt_request("GET", "/x");
    stt_run(app, req);
    assert_string_equal(stt_body_out(req, NULL), "Hi, /x\nHi, /x\n");
    stt_free(req);
    stt_destroy(app);
}

static void hello__repeat_out_of_range__is_a_config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, "repeat", "1000", NULL));
    assert_non_null(strstr(stt_last_error(), "repeat: expected a value in 1..100"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello__default_greeting__says_hello_and_the_path),
        cmocka_unit_test(hello__repeat_option__repeats),
        cmocka_unit_test(hello__repeat_out_of_range__is_a_config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
