/* test_path.c — path_clean: the path every plugin sees, decoded once,
 * dot segments resolved, hostile forms refused (NULL: the server answers
 * 400). A table of URIs as sent and the path expected. */
#include "unit.h"
#include "../../host/path.h"

static const struct {
    const char *uri, *want;   /* want NULL: refused */
} cases[] = {
    {"/", "/"},
    {"/a", "/a"},
    {"/a/b", "/a/b"},
    {"/a/b/", "/a/b/"},
    /* query and fragment are not part of the path */
    {"/a?x=1", "/a"},
    {"/a?x=/../..", "/a"},
    {"/a#frag", "/a"},
    {"/?x", "/"},
    /* '//' merges */
    {"//a", "/a"},
    {"/a//b", "/a/b"},
    {"/a///b//", "/a/b/"},
    {"/a//", "/a/"},
    {"//", "/"},
    /* '.' and '..' resolve */
    {"/a/./b", "/a/b"},
    {"/a/../b", "/b"},
    {"/a/b/../c", "/a/c"},
    {"/a/b/..", "/a/"},
    {"/a/..", "/"},
    {"/a/.", "/a/"},
    {"/.", "/"},
    {"/./", "/"},
    {"/a/./", "/a/"},
    {"/a/b/../", "/a/"},
    {"/a/../", "/"},
    {"/a/.b", "/a/.b"},
    {"/a/..b", "/a/..b"},
    {"/...", "/..."},
    {"/a/b/./../c/.", "/a/c/"},
    /* decoded once: the result is not decoded again */
    {"/a%20b", "/a b"},
    {"/%41%42c", "/ABc"},
    {"/%2541", "/%41"},
    {"/%7e%7E", "/~~"},
    {"/caf%C3%A9", "/caf\xc3\xa9"},
    {"/%3F", "/?"},
    /* '.' segments spelt with escapes resolve like plain ones */
    {"/a/%2e%2e/b", "/b"},
    {"/a/%2E/b", "/a/b"},
    /* above the root */
    {"/..", NULL},
    {"/../a", NULL},
    {"/a/../..", NULL},
    {"/a/../../b", NULL},
    {"/./..", NULL},
    {"/%2e%2e/etc/passwd", NULL},
    {"/a/..%2f..%2fetc", NULL},
    /* encoded '/' and NUL, bad escapes */
    {"/a%2fb", NULL},
    {"/a%2Fb", NULL},
    {"/a%00b", NULL},
    {"/a%", NULL},
    {"/a%2", NULL},
    {"/a%zz", NULL},
    {"/a%g0", NULL},
    /* not an origin-form path */
    {"", NULL},
    {"a/b", NULL},
    {"*", NULL},
    {"?x", NULL},
    {"http://host/a", NULL},
};

static void path__table(void **state)
{
    char inline_buf[256];
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct arena a;
        arena_init(&a, inline_buf, sizeof inline_buf);
        const char *got = path_clean(&a, cases[i].uri), *want = cases[i].want;
        if ((!got) != (!want) || (got && strcmp(got, want) != 0)) {
            print_message("'%s': expected %s%s%s, got %s%s%s\n", cases[i].uri,
                          want ? "'" : "", want ? want : "a refusal", want ? "'" : "",
                          got ? "'" : "", got ? got : "a refusal", got ? "'" : "");
            bad++;
        }
        arena_release(&a);
    }
    assert_int_equal(bad, 0);
}

static void path__long_uri__uses_arena_chunks(void **state)
{
    size_t n = 64 * 1024;
    char *uri = malloc(n + 1);
    assert_non_null(uri);
    for (size_t i = 0; i < n; i += 2) {
        uri[i] = '/';
        uri[i + 1] = 'x';
    }
    uri[n] = '\0';
    char inline_buf[64];
    struct arena a;
    arena_init(&a, inline_buf, sizeof inline_buf);
    char *got = path_clean(&a, uri);
    assert_non_null(got);
    assert_int_equal(strlen(got), n);
    assert_memory_equal(got, uri, n);
    arena_release(&a);
    free(uri);
}

static void path__result__is_a_fixed_point(void **state)
{
    char inline_buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (!cases[i].want || strpbrk(cases[i].want, "%?#"))
            continue;
        struct arena a;
        arena_init(&a, inline_buf, sizeof inline_buf);
        char *again = path_clean(&a, cases[i].want);
        assert_non_null(again);
        assert_string_equal(again, cases[i].want);
        arena_release(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path__table),
        cmocka_unit_test(path__long_uri__uses_arena_chunks),
        cmocka_unit_test(path__result__is_a_fixed_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
