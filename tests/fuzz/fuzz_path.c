/* fuzz_path.c — path_clean (host/path.c) on any request target: no crash,
 * no overflow of its arena block, and the promises every plugin relies
 * on when it maps the path to files (static, auth's protect/exempt):
 * a clean path starts with '/', has no empty, '.' or '..' segment, holds
 * no NUL, keeps a final '/' (a folder stays a folder), and cleaning it
 * again changes nothing. */
#include "../../host/path.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void check_clean(const char *p, size_t in_len)
{
    size_t n = strlen(p);
    CHECK(n >= 1 && p[0] == '/');
    CHECK(n <= in_len + 1);
    for (const char *s = p; *s;) {
        CHECK(*s == '/');
        const char *seg = ++s;
        while (*s && *s != '/')
            s++;
        size_t len = (size_t)(s - seg);
        if (len == 0)
            CHECK(*s == '\0');                     /* only a final '/' is empty */
        CHECK(!(len == 1 && seg[0] == '.'));
        CHECK(!(len == 2 && seg[0] == '.' && seg[1] == '.'));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *uri = malloc(size + 1);
    if (!uri)
        return 0;
    memcpy(uri, data, size);
    uri[size] = '\0';
    char buf[64];                 /* small: long paths go to arena chunks */
    struct arena a;
    arena_init(&a, buf, sizeof buf);
    char *p = path_clean(&a, uri);
    if (p) {
        check_clean(p, strlen(uri));
        size_t raw = strcspn(uri, "?#");
        if (uri[raw - 1] == '/')
            CHECK(p[strlen(p) - 1] == '/');
        /* a fixed point, unless decoding made '%', '?' or '#' that a second
         * pass would read as syntax */
        if (!strpbrk(p, "%?#")) {
            char *again = path_clean(&a, p);
            CHECK(again && strcmp(again, p) == 0);
        }
    }
    arena_release(&a);
    free(uri);
    return 0;
}
