/* fuzz_auth_header.c — the auth plugin's parsers of client input: the
 * Authorization header (cred_parse_basic), the path that protect/exempt
 * are matched against (path_normalize, path_under) and the user name as
 * written to the log (log_escape). Checks their promises, not just
 * crashes. */
#include "../../plugins/auth/parse.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static void fuzz_header(const char *s)
{
    char out[CRED_MAX + 1];
    size_t len = 0, colon = 0;
    int rc = cred_parse_basic(s, out, &len, &colon);
    CHECK(rc == CRED_OK || rc == CRED_NONE || rc == CRED_MALFORMED);
    if (rc != CRED_OK)
        return;
    CHECK(len <= CRED_MAX);
    CHECK(colon < len);
    CHECK(out[colon] == ':');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        CHECK(c >= 0x20 && c != 0x7f);
        CHECK(i >= colon || c != ':');
    }
    out[len] = '\0';   /* the plugin writes here: it must be in bounds */
}

static void fuzz_path(const char *mount, const char *path)
{
    size_t cap = strlen(mount) + strlen(path) + 2;
    char *out = malloc(cap);
    int n = path_normalize(mount, path, out, cap);
    if (n >= 0) {
        CHECK((size_t)n < cap && out[n] == '\0' && (size_t)n == strlen(out));
        CHECK(out[0] == '/');
        CHECK(n == 1 || out[n - 1] != '/');
        CHECK(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../"));
        CHECK(strcmp(out + (n >= 2 ? n - 2 : 0), "/.") != 0);
        CHECK(n < 3 || strcmp(out + n - 3, "/..") != 0);
        CHECK(path_under(out, "/"));
        CHECK(path_under(out, out));
        /* normalizing again changes nothing */
        char *again = malloc(cap);
        CHECK(path_normalize("", out, again, cap) == n && strcmp(again, out) == 0);
        free(again);
    }
    free(out);
}

static void fuzz_escape(const char *s)
{
    char out[4 * 64 + 1];
    log_escape(s, 64, out, sizeof out);
    for (const char *p = out; *p; p++)
        CHECK((unsigned char)*p >= 0x20 && *p != 0x7f && *p != '"');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_header(s);
    fuzz_escape(s);
    /* a NUL inside the input splits it into a mount and a path */
    size_t first = strlen(s);
    fuzz_path(s, first < size ? s + first + 1 : "");
    free(s);
    return 0;
}
