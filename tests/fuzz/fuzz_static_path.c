/* fuzz_static_path.c — the static plugin's path handling, from client
 * bytes to the file served.
 *
 *  1. st_path_normalize: whatever it accepts is relative, has no empty,
 *     "." or ".." segment, no denied dot-name, fits its buffer, and is a
 *     fixed point (normalising it again changes nothing).
 *  2. The whole handler, through the SDK test kit, against a tree made
 *     once in /tmp with a secret dotfile, symlinks out of the root, a
 *     FIFO and a file beside the root: every answer has an expected
 *     status, and no body ever carries the secret or the outside file.
 */
#include "../../plugins/static/http.c"
#include "../../plugins/static/mime.c"
#include "../../plugins/static/cache.c"
#include "../../plugins/static/static.c"
#include "strata-test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "CHECK failed: %s\n", #c); abort(); } } while (0)

static const char *const allowed[] = {".well-known"};
static const st_hidden policy = {0, 1, allowed};

static void check_normalized(const char *in)
{
    char out[256];
    int dir = -1;
    int rc = st_path_normalize(in, out, sizeof out, &dir, &policy);
    CHECK(rc == ST_PATH_OK || rc == ST_PATH_CLIMB || rc == ST_PATH_HIDDEN || rc == ST_PATH_LONG);
    if (rc != ST_PATH_OK)
        return;
    size_t n = strlen(out);
    CHECK(n < sizeof out);
    CHECK(dir == 0 || dir == 1);
    if (n) {
        CHECK(out[0] != '/' && out[n - 1] != '/');
        CHECK(!strstr(out, "//"));
    }
    for (const char *s = out; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        CHECK(len > 0 && len <= 255);
        CHECK(!(len == 1 && s[0] == '.'));
        CHECK(!(len == 2 && s[0] == '.' && s[1] == '.'));
        CHECK(s[0] != '.' || (len == 11 && memcmp(s, ".well-known", 11) == 0));
        s = e ? e + 1 : s + len;
    }
    char again_in[260], again[256];
    snprintf(again_in, sizeof again_in, "/%s", out);
    int dir2;
    CHECK(st_path_normalize(again_in, again, sizeof again, &dir2, &policy) == ST_PATH_OK);
    CHECK(strcmp(again, out) == 0);
}

static stt_instance *inst;

static void put(const char *dir, const char *rel, const char *data)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

static char top[] = "/tmp/strata-fuzz-static-XXXXXX";

static void cleanup(void)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd)) {}
}

static void setup(void)
{
    if (!mkdtemp(top))
        abort();
    atexit(cleanup);
    char p[512];
    put(top, "outside.txt", "OUTSIDE");
    snprintf(p, sizeof p, "%s/www", top);
    mkdir(p, 0755);
    put(p, "index.html", "home");
    put(p, "a.txt", "alpha");
    char q[600];
    snprintf(q, sizeof q, "%s/sub", p);
    mkdir(q, 0755);
    put(q, "b.txt", "beta");
    snprintf(q, sizeof q, "%s/.git", p);
    mkdir(q, 0755);
    put(q, "config", "SECRET");
    put(p, ".env", "SECRET");
    snprintf(q, sizeof q, "%s/out", p);
    if (symlink("../outside.txt", q)) {}
    snprintf(q, sizeof q, "%s/up", p);
    if (symlink("..", q)) {}
    snprintf(q, sizeof q, "%s/fifo", p);
    mkfifo(q, 0644);
    inst = stt_create(&strata_plugin, top, "root", "www", "listing", "true", NULL);
    if (!inst)
        abort();
}

static void check_handler(const char *uri)
{
    strata_request *r = stt_request("GET", uri);
    if (!r)
        return;
    int rc = stt_run(inst, r);
    CHECK(rc == STRATA_OK || rc == STRATA_YIELD);
    int st = stt_status(r);
    CHECK(rc == STRATA_YIELD || st == 200 || st == 301 || st == 400 || st == 403 || st == 404 ||
          st == 503);
    size_t len = 0;
    const char *b = stt_body_out(r, &len);
    if (b && len) {
        CHECK(!memmem(b, len, "OUTSIDE", 7));
        CHECK(!memmem(b, len, "SECRET", 6));
    }
    stt_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!inst)
        setup();
    if (size > 4096)
        return 0;
    char *s = malloc(size + 2);
    s[0] = '/';
    memcpy(s + 1, data, size);
    s[size + 1] = '\0';
    check_normalized(s + 1);   /* as given, maybe without the leading '/' */
    check_normalized(s);
    check_handler(s);
    char raw[64];
    snprintf(raw, sizeof raw, "%.60s", s);
    (void)st_uri_has_forbidden_escape(raw);
    free(s);
    return 0;
}
