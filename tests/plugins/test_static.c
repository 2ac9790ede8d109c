/* test_static.c — the static plugin against the SDK test kit: path
 * resolution (a table of hostile and ordinary paths, with openat2 and with
 * the O_NOFOLLOW walk, cached and not), Range parsing, conditional
 * requests, MIME lookup, precompressed siblings, the cache, listings and
 * configuration errors. The served tree is made at test time in a mkdtemp
 * folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "../../host/request.h"   /* to hand a "" path, as the host's urlmap does */
#include "cache.h"
#include "http.h"
#include "mime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;
extern int64_t st_cache_check_ns, st_cache_racy_ns;

static char top[64];        /* the mkdtemp folder            */
static char root[128];      /* top/www, what is served       */

/* ---- the tree ---------------------------------------------------------- */

static void put(const char *rel, const char *data)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(data, 1, strlen(data), f);
    fclose(f);
}

static void put_n(const char *rel, size_t n, char c)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc(c + (int)(i % 7), f);
    fclose(f);
}

static void mkd(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void lnk(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    assert_int_equal(symlink(target, p), 0);
}

/* mtime `secs` ago (ctime stays now) */
static void age(const char *rel, int secs)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", top, rel);
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= secs;
    tv[1] = tv[0];
    assert_int_equal(utimes(p, tv), 0);
}

static int make_tree(void **state)
{
    (void)state;
    strcpy(top, "/tmp/strata-static-XXXXXX");
    if (!mkdtemp(top))
        return -1;
    snprintf(root, sizeof root, "%s/www", top);
    put("outside.txt", "OUTSIDE");
    mkd("www");
    put("www/index.html", "home");
    put("www/a.txt", "alpha");
    mkd("www/sub");
    put("www/sub/index.html", "subindex");
    put("www/sub/x.css", "body{}");
    mkd("www/noindex");
    put("www/noindex/f.txt", "f");
    mkd("www/.git");
    put("www/.git/config", "SECRET");
    put("www/sub/.hidden", "SECRET");
    mkd("www/.well-known");
    put("www/.well-known/security.txt", "contact");
    lnk("a.txt", "www/link-in");
    lnk("sub", "www/dirlink-in");
    lnk("../outside.txt", "www/link-out");
    lnk("/etc/passwd", "www/link-abs");
    lnk("..", "www/dirlink-out");
    lnk("/proc/self/root/etc/passwd", "www/link-magic");
    char p[512];
    snprintf(p, sizeof p, "%s/www/fifo", top);
    if (mkfifo(p, 0644) != 0)
        return -1;
    put("www/sp ace.txt", "space");
    put("www/pct%41.txt", "percent");
    put("www/\xc3\xbcmlaut.txt", "umlaut");
    put("www/back\\slash.txt", "backslash");
    put_n("www/big.bin", 100000, 'a');
    put("www/data.json", "{}");
    put("www/noext", "x");
    put("www/page.html", "<p>plain</p>");
    put("www/page.html.gz", "GZIPPED");
    put("www/page.html.br", "BROTLI");
    put("www/old.css", "new css");
    put("www/old.css.gz", "stale gz");
    age("www/old.css.gz", 3600);
    mkd("www/list");
    put("www/list/<script>.txt", "x");
    put("www/list/b&c.txt", "x");
    put("www/list/.dot", "x");
    mkd("www/list/d");
    return 0;
}

static int remove_tree(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------ */

static stt_instance *make(const char *k1, const char *v1, const char *k2, const char *v2)
{
    stt_instance *i = stt_create(&strata_plugin, top, "root", root, k1, v1, k2, v2, NULL);
    if (!i)
        fail_msg("create failed: %s", stt_last_error());
    return i;
}

/* Run METHOD URI with header pairs (NULL-terminated). */
static strata_request *req_h(stt_instance *i, const char *method, const char *uri, ...)
{
    strata_request *r = stt_request(method, uri);
    va_list ap;
    va_start(ap, uri);
    for (const char *n; (n = va_arg(ap, const char *));)
        stt_header(r, n, va_arg(ap, const char *));
    va_end(ap);
    int rc = stt_run(i, r);
    assert_int_equal(rc, STRATA_OK);
    return r;
}

#define GET(i, uri) req_h(i, "GET", uri, NULL)

static void assert_body(strata_request *r, const char *want)
{
    size_t len;
    const char *b = stt_body_out(r, &len);
    assert_non_null(b);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(b, want, len);
}

/* ---- the path table ----------------------------------------------------- */

struct path_row {
    const char *uri;
    int status;
    const char *body;      /* exact body for 200, or NULL               */
    int walk_status;       /* status with resolver = walk (0: same)     */
};

static const struct path_row path_rows[] = {
    /* ordinary */
    {"/", 200, "home", 0},
    {"/index.html", 200, "home", 0},
    {"/a.txt", 200, "alpha", 0},
    {"/a.txt?x=1&y=../../etc", 200, "alpha", 0},
    {"/./a.txt", 200, "alpha", 0},
    {"//a.txt", 200, "alpha", 0},
    {"/sub/", 200, "subindex", 0},
    {"/sub/x.css", 200, "body{}", 0},
    {"/sub/./x.css", 200, "body{}", 0},
    {"/sub/../a.txt", 200, "alpha", 0},
    {"/sub//x.css", 200, "body{}", 0},
    {"/sp%20ace.txt", 200, "space", 0},
    {"/pct%2541.txt", 200, "percent", 0},
    {"/%C3%BCmlaut.txt", 200, "umlaut", 0},
    {"/back%5Cslash.txt", 200, "backslash", 0},
    {"/.well-known/security.txt", 200, "contact", 0},
    {"/link-in", 200, "alpha", 403},           /* the walk follows no symlink */
    {"/dirlink-in/x.css", 200, "body{}", 404},
    {"/sub", 301, NULL, 0},
    {"/noindex", 301, NULL, 0},
    /* not there */
    {"/nope", 404, NULL, 0},
    {"/sub/nope/x", 404, NULL, 0},
    {"/a.txt/", 404, NULL, 0},
    {"/a.txt/.", 404, NULL, 0},
    {"/a.txt/x", 404, NULL, 0},
    {"/A.TXT", 404, NULL, 0},
    {"/a.txt;.html", 404, NULL, 0},
    {"/%252e%252e/outside.txt", 404, NULL, 0},  /* decoded once only */
    {"/sub%5C..%5Ca.txt", 404, NULL, 0},        /* a backslash is a name byte */
    {"/fifo", 404, NULL, 0},                    /* and it must not block */
    /* hostile */
    {"/../outside.txt", 403, NULL, 0},
    {"/sub/../../outside.txt", 403, NULL, 0},
    {"/%2e%2e/outside.txt", 403, NULL, 0},
    {"/sub/%2E%2E/%2e%2e/outside.txt", 403, NULL, 0},
    {"/..", 403, NULL, 0},
    {"/%2e%2e%2foutside.txt", 400, NULL, 0},    /* encoded '/' */
    {"/sub%2F..%2F..%2Foutside.txt", 400, NULL, 0},
    {"/a.txt%00.html", 400, NULL, 0},
    {"/.git/config", 403, NULL, 0},
    {"/.git", 403, NULL, 0},
    {"/sub/.hidden", 403, NULL, 0},
    {"/%2egit/config", 403, NULL, 0},
    {"/...", 403, NULL, 0},
    {"/link-out", 403, NULL, 0},
    {"/link-abs", 403, NULL, 0},
    {"/link-magic", 403, NULL, 0},
    {"/dirlink-out/outside.txt", 403, NULL, 404},
    {"/noindex/", 403, NULL, 0},
};

static void run_path_table(const char *resolver, int cached)
{
    int64_t saved = st_cache_racy_ns;
    st_cache_racy_ns = cached ? 0 : INT64_MAX;
    stt_instance *i = make("resolver", resolver, NULL, NULL);
    int walk = strcmp(resolver, "walk") == 0;
    for (int pass = 0; pass < 2; pass++) {   /* the second pass meets the cache */
        for (size_t k = 0; k < sizeof path_rows / sizeof path_rows[0]; k++) {
            const struct path_row *row = &path_rows[k];
            int want = walk && row->walk_status ? row->walk_status : row->status;
            strata_request *r = GET(i, row->uri);
            if (stt_status(r) != want)
                fail_msg("%s (resolver %s, pass %d): status %d, want %d", row->uri, resolver,
                         pass, stt_status(r), want);
            if (want == 200 && row->body)
                assert_body(r, row->body);
            if (want != 200) {   /* nothing from outside or hidden leaks */
                size_t len;
                const char *b = stt_body_out(r, &len);
                assert_true(!b || (!memmem(b, len, "SECRET", 6) && !memmem(b, len, "OUTSIDE", 7)));
            }
            stt_free(r);
        }
    }
    stt_destroy(i);
    st_cache_racy_ns = saved;
}

static void static__path_table_openat2__every_row(void **state)
{
    (void)state;
    run_path_table("auto", 0);
}

static void static__path_table_openat2_cached__every_row(void **state)
{
    (void)state;
    run_path_table("auto", 1);
}

static void static__path_table_walk__every_row(void **state)
{
    (void)state;
    run_path_table("walk", 0);
}

static void static__path_table_walk_cached__every_row(void **state)
{
    (void)state;
    run_path_table("walk", 1);
}

/* st_path_normalize alone */
struct norm_row {
    const char *in;
    int rc;
    const char *out;
    int is_dir;
};

static const struct norm_row norm_rows[] = {
    {"/", ST_PATH_OK, "", 1},
    {"", ST_PATH_OK, "", 0},
    {"/a", ST_PATH_OK, "a", 0},
    {"/a/", ST_PATH_OK, "a", 1},
    {"a/b", ST_PATH_OK, "a/b", 0},
    {"///a///b//", ST_PATH_OK, "a/b", 1},
    {"/a/./b", ST_PATH_OK, "a/b", 0},
    {"/a/.", ST_PATH_OK, "a", 1},
    {"/a/b/..", ST_PATH_OK, "a", 1},
    {"/a/b/../c", ST_PATH_OK, "a/c", 0},
    {"/a/../..", ST_PATH_CLIMB, NULL, 0},
    {"/..", ST_PATH_CLIMB, NULL, 0},
    {"/../a", ST_PATH_CLIMB, NULL, 0},
    {"/./../a", ST_PATH_CLIMB, NULL, 0},
    {"/.a", ST_PATH_HIDDEN, NULL, 0},
    {"/a/.b/c", ST_PATH_HIDDEN, NULL, 0},
    {"/...", ST_PATH_HIDDEN, NULL, 0},
    {"/.well-known/x", ST_PATH_OK, ".well-known/x", 0},
    {"/.well-knownx", ST_PATH_HIDDEN, NULL, 0},
    {"/a..b", ST_PATH_OK, "a..b", 0},
    {"/a.", ST_PATH_OK, "a.", 0},
    {"/..a", ST_PATH_HIDDEN, NULL, 0},
};

static void static__normalize_table__every_row(void **state)
{
    (void)state;
    static const char *const allow[] = {".well-known"};
    st_hidden h = {0, 1, allow};
    for (size_t k = 0; k < sizeof norm_rows / sizeof norm_rows[0]; k++) {
        const struct norm_row *row = &norm_rows[k];
        char out[64];
        int dir = -1;
        int rc = st_path_normalize(row->in, out, sizeof out, &dir, &h);
        if (rc != row->rc)
            fail_msg("'%s': rc %d, want %d", row->in, rc, row->rc);
        if (rc == ST_PATH_OK) {
            if (strcmp(out, row->out) != 0 || dir != row->is_dir)
                fail_msg("'%s': '%s' dir %d, want '%s' dir %d", row->in, out, dir, row->out,
                         row->is_dir);
        }
    }
}

static void static__normalize_limits__long_paths_refused(void **state)
{
    (void)state;
    char in[600], out[300];
    int dir;
    memset(in, 'a', sizeof in);
    in[0] = '/';
    in[300] = '\0';   /* one 299-byte name: over NAME_MAX */
    assert_int_equal(st_path_normalize(in, out, sizeof out, &dir, NULL), ST_PATH_LONG);
    for (int k = 0; k < 599; k++)
        in[k] = k % 100 == 0 ? '/' : 'b';
    in[599] = '\0';   /* names of 99 bytes, 594 in all: over the buffer */
    assert_int_equal(st_path_normalize(in, out, sizeof out, &dir, NULL), ST_PATH_LONG);
    in[250] = '\0';
    assert_int_equal(st_path_normalize(in, out, sizeof out, &dir, NULL), ST_PATH_OK);
    st_hidden all = {1, 0, NULL};
    assert_int_equal(st_path_normalize("/.git/x", out, sizeof out, &dir, &all), ST_PATH_OK);
    assert_string_equal(out, ".git/x");
}

static void static__long_name__returns_404(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char uri[400] = "/";
    memset(uri + 1, 'n', 300);
    uri[301] = '\0';
    strata_request *r = GET(i, uri);
    assert_int_equal(stt_status(r), 404);
    stt_free(r);
    stt_destroy(i);
}

static void static__raw_uri_escapes__detected(void **state)
{
    (void)state;
    assert_true(st_uri_has_forbidden_escape("/a%2fb"));
    assert_true(st_uri_has_forbidden_escape("/a%2Fb"));
    assert_true(st_uri_has_forbidden_escape("/a%00"));
    assert_false(st_uri_has_forbidden_escape("/a%252fb"));
    assert_false(st_uri_has_forbidden_escape("/a?x=%2f%00"));
    assert_false(st_uri_has_forbidden_escape("/a%2"));
    assert_false(st_uri_has_forbidden_escape("/a%"));
    assert_false(st_uri_has_forbidden_escape(NULL));
}

/* ---- Range --------------------------------------------------------------- */

struct range_row {
    const char *h;
    uint64_t size;
    int kind;
    uint64_t off, len;
};

static const struct range_row range_rows[] = {
    {"bytes=0-9", 100, ST_RANGE_ONE, 0, 10},
    {"bytes=10-", 100, ST_RANGE_ONE, 10, 90},
    {"bytes=-10", 100, ST_RANGE_ONE, 90, 10},
    {"bytes=-500", 100, ST_RANGE_ONE, 0, 100},
    {"bytes=0-0", 100, ST_RANGE_ONE, 0, 1},
    {"bytes=99-99", 100, ST_RANGE_ONE, 99, 1},
    {"bytes=50-1000", 100, ST_RANGE_ONE, 50, 50},
    {"BYTES=1-2", 100, ST_RANGE_ONE, 1, 2},
    {" bytes=1-2 ", 100, ST_RANGE_ONE, 1, 2},
    {"bytes= 1-2", 100, ST_RANGE_ONE, 1, 2},
    {"bytes=1-2,", 100, ST_RANGE_ONE, 1, 2},
    {"bytes=,1-2", 100, ST_RANGE_ONE, 1, 2},
    {"bytes=0-99999999999999999999999", 100, ST_RANGE_ONE, 0, 100},
    {"bytes=100-", 100, ST_RANGE_UNSAT, 0, 0},
    {"bytes=100-200", 100, ST_RANGE_UNSAT, 0, 0},
    {"bytes=-0", 100, ST_RANGE_UNSAT, 0, 0},
    {"bytes=0-", 0, ST_RANGE_UNSAT, 0, 0},
    {"bytes=-5", 0, ST_RANGE_UNSAT, 0, 0},
    {"bytes=99999999999999999999999-", 100, ST_RANGE_UNSAT, 0, 0},
    {"bytes=0-1,5-6", 100, ST_RANGE_MULTI, 0, 0},
    {"bytes=0-1, -5", 100, ST_RANGE_MULTI, 0, 0},
    {"bytes=5-1", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=-", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=a-b", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=1-2-3", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=1 -2", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=0-1,x", 100, ST_RANGE_NONE, 0, 0},
    {"items=0-1", 100, ST_RANGE_NONE, 0, 0},
    {"bytes 0-1", 100, ST_RANGE_NONE, 0, 0},
    {"", 100, ST_RANGE_NONE, 0, 0},
    {"bytes=+1-2", 100, ST_RANGE_NONE, 0, 0},
};

static void static__range_table__every_row(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof range_rows / sizeof range_rows[0]; k++) {
        const struct range_row *row = &range_rows[k];
        uint64_t off = 7777, len = 7777;
        int kind = st_range_parse(row->h, row->size, &off, &len);
        if (kind != row->kind)
            fail_msg("'%s' size %llu: kind %d, want %d", row->h, (unsigned long long)row->size,
                     kind, row->kind);
        if (kind == ST_RANGE_ONE && (off != row->off || len != row->len))
            fail_msg("'%s': %llu+%llu, want %llu+%llu", row->h, (unsigned long long)off,
                     (unsigned long long)len, (unsigned long long)row->off,
                     (unsigned long long)row->len);
    }
    assert_int_equal(st_range_parse(NULL, 10, NULL, NULL), ST_RANGE_NONE);
}

static void static__range_request__returns_206_with_content_range(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = req_h(i, "GET", "/a.txt", "Range", "bytes=1-3", NULL);
    assert_int_equal(stt_status(r), 206);
    assert_string_equal(stt_header_out(r, "Content-Range"), "bytes 1-3/5");
    assert_body(r, "lph");
    stt_free(r);
    r = req_h(i, "GET", "/big.bin", "Range", "bytes=-3", NULL);
    assert_int_equal(stt_status(r), 206);
    assert_string_equal(stt_header_out(r, "Content-Range"), "bytes 99997-99999/100000");
    assert_true(stt_body_is_fd(r));
    size_t len;
    stt_body_out(r, &len);
    assert_int_equal(len, 3);
    stt_free(r);
    stt_destroy(i);
}

static void static__unsatisfiable_range__returns_416_with_size(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = req_h(i, "GET", "/a.txt", "Range", "bytes=5-", NULL);
    assert_int_equal(stt_status(r), 416);
    assert_string_equal(stt_header_out(r, "Content-Range"), "bytes */5");
    stt_free(r);
    stt_destroy(i);
}

static void static__multiple_ranges__return_whole_file_200(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = req_h(i, "GET", "/a.txt", "Range", "bytes=0-0,2-3", NULL);
    assert_int_equal(stt_status(r), 200);
    assert_null(stt_header_out(r, "Content-Range"));
    assert_body(r, "alpha");
    stt_free(r);
    stt_destroy(i);
}

static void static__range_on_head__ignored(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = req_h(i, "HEAD", "/a.txt", "Range", "bytes=0-1", NULL);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

/* ---- conditionals ----------------------------------------------------------- */

static const char *etag_of(stt_instance *i, const char *uri, char *lm, size_t lmsz)
{
    static char etag[64];
    strata_request *r = GET(i, uri);
    assert_int_equal(stt_status(r), 200);
    snprintf(etag, sizeof etag, "%s", stt_header_out(r, "ETag"));
    if (lm)
        snprintf(lm, lmsz, "%s", stt_header_out(r, "Last-Modified"));
    stt_free(r);
    return etag;
}

static void static__etag__is_strong_and_quoted(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    const char *e = etag_of(i, "/a.txt", NULL, 0);
    assert_int_equal(e[0], '"');
    assert_int_equal(e[strlen(e) - 1], '"');
    assert_null(strstr(e, "W/"));
    stt_destroy(i);
}

static void static__if_none_match__returns_304_without_body(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char etag[64], weak[80], list[160];
    snprintf(etag, sizeof etag, "%s", etag_of(i, "/a.txt", NULL, 0));
    snprintf(weak, sizeof weak, "W/%s", etag);
    snprintf(list, sizeof list, "\"nope\", %s , \"x\"", weak);
    const char *const match[] = {etag, weak, list, "*", " * "};
    for (size_t k = 0; k < 5; k++) {
        strata_request *r = req_h(i, "GET", "/a.txt", "If-None-Match", match[k], NULL);
        if (stt_status(r) != 304)
            fail_msg("If-None-Match: %s -> %d", match[k], stt_status(r));
        assert_int_equal(stt_host()->resp_length(r), -1);
        assert_string_equal(stt_header_out(r, "ETag"), etag);
        assert_non_null(stt_header_out(r, "Last-Modified"));
        stt_free(r);
    }
    const char *const miss[] = {"\"nope\"", "\"a\", \"b\"", "garbage", "W/", ""};
    for (size_t k = 0; k < 5; k++) {
        strata_request *r = req_h(i, "GET", "/a.txt", "If-None-Match", miss[k], NULL);
        if (stt_status(r) != 200)
            fail_msg("If-None-Match: %s -> %d", miss[k], stt_status(r));
        stt_free(r);
    }
    stt_destroy(i);
}

static void static__if_modified_since__returns_304_when_not_newer(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char lm[40];
    etag_of(i, "/a.txt", lm, sizeof lm);
    strata_request *r = req_h(i, "GET", "/a.txt", "If-Modified-Since", lm, NULL);
    assert_int_equal(stt_status(r), 304);
    stt_free(r);
    r = req_h(i, "HEAD", "/a.txt", "If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT", NULL);
    assert_int_equal(stt_status(r), 304);
    stt_free(r);
    r = req_h(i, "GET", "/a.txt", "If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT", NULL);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    r = req_h(i, "GET", "/a.txt", "If-Modified-Since", "not a date", NULL);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

static void static__if_none_match__wins_over_if_modified_since(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char lm[40];
    etag_of(i, "/a.txt", lm, sizeof lm);
    /* the tag does not match: 200 even though the date alone would be 304 */
    strata_request *r =
        req_h(i, "GET", "/a.txt", "If-None-Match", "\"other\"", "If-Modified-Since", lm, NULL);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

static void static__if_range__mismatch_sends_whole_file(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char lm[40], etag[64], weak[80];
    snprintf(etag, sizeof etag, "%s", etag_of(i, "/a.txt", lm, sizeof lm));
    snprintf(weak, sizeof weak, "W/%s", etag);
    struct {
        const char *if_range;
        int status;
    } rows[] = {{etag, 206}, {lm, 206}, {"\"other\"", 200}, {weak, 200},
                {"Sun, 06 Nov 1994 08:49:37 GMT", 200}, {"junk", 200}};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        strata_request *r =
            req_h(i, "GET", "/a.txt", "Range", "bytes=0-1", "If-Range", rows[k].if_range, NULL);
        if (stt_status(r) != rows[k].status)
            fail_msg("If-Range: %s -> %d, want %d", rows[k].if_range, stt_status(r),
                     rows[k].status);
        stt_free(r);
    }
    stt_destroy(i);
}

static void static__if_match__failing_returns_412(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    char etag[64];
    snprintf(etag, sizeof etag, "%s", etag_of(i, "/a.txt", NULL, 0));
    strata_request *r = req_h(i, "GET", "/a.txt", "If-Match", "\"other\"", NULL);
    assert_int_equal(stt_status(r), 412);
    stt_free(r);
    r = req_h(i, "GET", "/a.txt", "If-Match", etag, NULL);
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    r = req_h(i, "GET", "/a.txt", "If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT", NULL);
    assert_int_equal(stt_status(r), 412);
    stt_free(r);
    stt_destroy(i);
}

static void static__evaluate__rfc9110_order(void **state)
{
    (void)state;
    st_validators v = {"\"t1\"", 1000, 50};
    st_answer a;
    st_cond c = {0};
    c.is_get = 1;
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.len, 50);
    c.if_none_match = "\"t1\"";
    c.range = "bytes=0-1";
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 304);   /* 304 before Range */
    c.if_none_match = NULL;
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 206);
    c.if_match = "\"t2\"";
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 412);   /* 412 before everything */
    c.if_match = "W/\"t1\"";           /* If-Match compares strongly */
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 412);
    c.if_match = "*";
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 206);
    c.is_get = 0;
    st_evaluate(&c, &v, &a);
    assert_int_equal(a.status, 200);   /* HEAD: Range ignored */
}

static void static__http_dates__three_formats(void **state)
{
    (void)state;
    assert_int_equal(st_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(st_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(st_http_date_parse("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(st_http_date_parse(" Sun, 06 Nov 1994 08:49:37 GMT "), 784111777);
    assert_int_equal(st_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(st_http_date_parse("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
    assert_int_equal(st_http_date_parse("Mon, 29 Feb 1900 12:00:00 GMT"), -1);
    assert_int_equal(st_http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC"), -1);
    assert_int_equal(st_http_date_parse("Sun, 32 Nov 1994 08:49:37 GMT"), -1);
    assert_int_equal(st_http_date_parse("Sun, 06 Nov 1994 24:49:37 GMT"), -1);
    assert_int_equal(st_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT"), -1);
    assert_int_equal(st_http_date_parse("1994-11-06T08:49:37Z"), -1);
    assert_int_equal(st_http_date_parse(""), -1);
    assert_int_equal(st_http_date_parse(NULL), -1);
    char buf[32];
    st_http_date_format(784111777, buf);
    assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    st_http_date_format(0, buf);
    assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void static__etag_lists__weak_and_strong_comparison(void **state)
{
    (void)state;
    assert_true(st_etag_list_match("\"a\"", "\"a\"", 1));
    assert_true(st_etag_list_match("W/\"a\"", "\"a\"", 0));
    assert_false(st_etag_list_match("W/\"a\"", "\"a\"", 1));
    assert_true(st_etag_list_match("\"x\",\"a\"", "\"a\"", 1));
    assert_true(st_etag_list_match("  \"x\" ,, W/\"a\"  ", "\"a\"", 0));
    assert_true(st_etag_list_match("bad, \"a\"", "\"a\"", 0));
    assert_false(st_etag_list_match("\"ab\"", "\"a\"", 0));
    assert_false(st_etag_list_match("\"a", "\"a\"", 0));
    assert_false(st_etag_list_match("a", "\"a\"", 0));
    assert_true(st_etag_list_match("*", "\"a\"", 1));
    assert_false(st_etag_list_match(NULL, "\"a\"", 1));
}

/* ---- MIME ----------------------------------------------------------------------- */

static void static__mime_lookup__file_builtin_and_user(void **state)
{
    (void)state;
    char mf[256];
    snprintf(mf, sizeof mf, "%s/mime.types", top);
    FILE *f = fopen(mf, "w");
    assert_non_null(f);
    fputs("# comment\ntext/x-first  foo bar\napplication/x-second foo\n"
          "image/png png\n\nnot-a-type zzz\ntext/plain; charset=latin1 lat\n",
          f);
    fclose(f);
    st_mime m;
    assert_int_equal(st_mime_init(&m, "application/octet-stream"), 0);
    assert_int_equal(st_mime_add_builtin(&m), 0);
    assert_string_equal(st_mime_lookup(&m, "x.css"), "text/css; charset=utf-8");
    assert_true(st_mime_load(&m, mf) > 0);
    assert_string_equal(st_mime_lookup(&m, "a/b/c.FOO"), "text/x-first; charset=utf-8");
    assert_string_equal(st_mime_lookup(&m, "c.bar"), "text/x-first; charset=utf-8");
    assert_string_equal(st_mime_lookup(&m, "c.png"), "image/png");
    assert_string_equal(st_mime_lookup(&m, "c.js"), "text/javascript; charset=utf-8");
    assert_string_equal(st_mime_lookup(&m, "c.zzz"), "application/octet-stream");
    assert_string_equal(st_mime_lookup(&m, "noext"), "application/octet-stream");
    assert_string_equal(st_mime_lookup(&m, ".bashrc"), "application/octet-stream");
    assert_string_equal(st_mime_lookup(&m, "dir.d/file"), "application/octet-stream");
    assert_string_equal(st_mime_lookup(&m, "trailing."), "application/octet-stream");
    assert_int_equal(st_mime_add(&m, "foo", 3, "application/x-user", ST_MIME_USER), 0);
    assert_string_equal(st_mime_lookup(&m, "c.foo"), "application/x-user");
    assert_int_equal(st_mime_load(&m, "/nonexistent/mime.types"), -1);
    /* many additions: the table grows and keeps everything */
    char ext[16];
    for (int k = 0; k < 2000; k++) {
        snprintf(ext, sizeof ext, "e%d", k);
        assert_int_equal(st_mime_add(&m, ext, strlen(ext), "application/x-n", ST_MIME_USER), 0);
    }
    assert_string_equal(st_mime_lookup(&m, "z.e1999"), "application/x-n");
    assert_string_equal(st_mime_lookup(&m, "c.png"), "image/png");
    st_mime_free(&m);
}

static void static__mime_system_file__common_types(void **state)
{
    (void)state;
    if (access("/etc/mime.types", R_OK) != 0)
        skip();
    st_mime m;
    st_mime_init(&m, "application/octet-stream");
    st_mime_add_builtin(&m);
    assert_true(st_mime_load(&m, "/etc/mime.types") > 500);
    assert_string_equal(st_mime_lookup(&m, "i.html"), "text/html; charset=utf-8");
    assert_string_equal(st_mime_lookup(&m, "i.svg"), "image/svg+xml");
    assert_string_equal(st_mime_lookup(&m, "i.json"), "application/json");
    assert_string_equal(st_mime_lookup(&m, "i.woff2"), "font/woff2");
    st_mime_free(&m);
}

static void static__content_type__from_table_and_options(void **state)
{
    (void)state;
    stt_instance *i = make("mime_types", "json=application/x-mine .noext=text/weird",
                           "default_type", "text/plain");
    strata_request *r = GET(i, "/data.json");
    assert_string_equal(stt_header_out(r, "Content-Type"), "application/x-mine");
    stt_free(r);
    r = GET(i, "/noext");
    assert_string_equal(stt_header_out(r, "Content-Type"), "text/plain; charset=utf-8");
    stt_free(r);
    r = GET(i, "/sub/x.css");
    assert_string_equal(stt_header_out(r, "Content-Type"), "text/css; charset=utf-8");
    stt_free(r);
    stt_destroy(i);
}

/* ---- methods, headers, redirects ----------------------------------------------- */

static void static__post__returns_405_with_allow(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"};
    for (size_t k = 0; k < 6; k++) {
        strata_request *r = req_h(i, methods[k], "/a.txt", NULL);
        assert_int_equal(stt_status(r), 405);
        assert_string_equal(stt_header_out(r, "Allow"), "GET, HEAD");
        stt_free(r);
    }
    stt_destroy(i);
}

static void static__head__same_headers_as_get(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *g = GET(i, "/a.txt");
    strata_request *h = req_h(i, "HEAD", "/a.txt", NULL);
    assert_int_equal(stt_status(h), 200);
    assert_int_equal(stt_host()->resp_length(h), 5);   /* Content-Length stays right */
    const char *names[] = {"Content-Type", "ETag", "Last-Modified", "Accept-Ranges"};
    for (size_t k = 0; k < 4; k++)
        assert_string_equal(stt_header_out(g, names[k]), stt_header_out(h, names[k]));
    stt_free(g);
    stt_free(h);
    stt_destroy(i);
}

static void static__max_age__sets_cache_control(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = GET(i, "/a.txt");
    assert_string_equal(stt_header_out(r, "Cache-Control"), "max-age=0");
    stt_free(r);
    stt_destroy(i);
    i = make("max_age", "3600", NULL, NULL);
    r = GET(i, "/a.txt");
    assert_string_equal(stt_header_out(r, "Cache-Control"), "max-age=3600");
    stt_free(r);
    stt_destroy(i);
    i = make("max_age", "-1", NULL, NULL);
    r = GET(i, "/a.txt");
    assert_null(stt_header_out(r, "Cache-Control"));
    stt_free(r);
    stt_destroy(i);
}

static void static__dir_without_slash__redirects_with_query(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = GET(i, "/sub?x=1");
    assert_int_equal(stt_status(r), 301);
    assert_string_equal(stt_header_out(r, "Location"), "/sub/?x=1");
    stt_free(r);
    r = GET(i, "/sub/../noindex");
    assert_string_equal(stt_header_out(r, "Location"), "/noindex/");
    stt_free(r);
    stt_destroy(i);
}

static void static__mounted__serves_below_prefix_and_redirects_with_it(void **state)
{
    (void)state;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = stt_request("GET", "/assets/sub/x.css");
    stt_mount(r, "/assets");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 200);
    assert_body(r, "body{}");
    stt_free(r);
    r = stt_request("GET", "/assets/sub");
    stt_mount(r, "/assets");
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 301);
    assert_string_equal(stt_header_out(r, "Location"), "/assets/sub/");
    stt_free(r);
    /* the host hands "" for the mount point itself */
    r = stt_request("GET", "/assets?v=2");
    stt_mount(r, "/assets");
    r->path = "";   /* (the kit would give "/") */
    assert_int_equal(stt_run(i, r), STRATA_OK);
    assert_int_equal(stt_status(r), 301);
    assert_string_equal(stt_header_out(r, "Location"), "/assets/?v=2");
    stt_free(r);
    stt_destroy(i);
}

static void static__special_names__location_is_encoded(void **state)
{
    (void)state;
    char p[512];
    snprintf(p, sizeof p, "%s/www/we ird\"<dir>", top);
    assert_int_equal(mkdir(p, 0755), 0);
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = GET(i, "/we%20ird%22%3Cdir%3E");
    assert_int_equal(stt_status(r), 301);
    assert_string_equal(stt_header_out(r, "Location"), "/we%20ird%22%3Cdir%3E/");
    stt_free(r);
    stt_destroy(i);
    rmdir(p);
}

/* ---- precompressed siblings ------------------------------------------------------ */

static void check_precompressed(int cached)
{
    int64_t saved = st_cache_racy_ns;
    st_cache_racy_ns = cached ? 0 : INT64_MAX;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    struct {
        const char *ae;
        const char *body, *enc;
    } rows[] = {
        {NULL, "<p>plain</p>", NULL},
        {"gzip", "GZIPPED", "gzip"},
        {"gzip, deflate, br", "BROTLI", "br"},
        {"br;q=0, gzip", "GZIPPED", "gzip"},
        {"gzip;q=0", "<p>plain</p>", NULL},
        {"*", "BROTLI", "br"},
        {"*;q=0, gzip;q=0.5", "GZIPPED", "gzip"},
        {"identity", "<p>plain</p>", NULL},
        {"x-gzip", "GZIPPED", "gzip"},
    };
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
            strata_request *r = rows[k].ae
                                    ? req_h(i, "GET", "/page.html", "Accept-Encoding", rows[k].ae, NULL)
                                    : GET(i, "/page.html");
            assert_int_equal(stt_status(r), 200);
            assert_body(r, rows[k].body);
            const char *ce = stt_header_out(r, "Content-Encoding");
            if (rows[k].enc)
                assert_string_equal(ce, rows[k].enc);
            else
                assert_null(ce);
            assert_string_equal(stt_header_out(r, "Vary"), "Accept-Encoding");
            assert_string_equal(stt_header_out(r, "Content-Type"), "text/html; charset=utf-8");
            stt_free(r);
        }
    }
    /* a sibling older than the file is not used, and no Vary is needed */
    strata_request *r = req_h(i, "GET", "/old.css", "Accept-Encoding", "gzip", NULL);
    assert_body(r, "new css");
    assert_null(stt_header_out(r, "Content-Encoding"));
    assert_null(stt_header_out(r, "Vary"));
    stt_free(r);
    /* the sibling's ETag is its own */
    strata_request *a = GET(i, "/page.html");
    strata_request *b = req_h(i, "GET", "/page.html", "Accept-Encoding", "gzip", NULL);
    assert_string_not_equal(stt_header_out(a, "ETag"), stt_header_out(b, "ETag"));
    stt_free(a);
    stt_free(b);
    stt_destroy(i);
    i = make("precompressed", "false", NULL, NULL);
    r = req_h(i, "GET", "/page.html", "Accept-Encoding", "gzip, br", NULL);
    assert_body(r, "<p>plain</p>");
    assert_null(stt_header_out(r, "Vary"));
    stt_free(r);
    stt_destroy(i);
    st_cache_racy_ns = saved;
}

static void static__precompressed__chosen_by_accept_encoding(void **state)
{
    (void)state;
    check_precompressed(0);
}

static void static__precompressed_cached__chosen_by_accept_encoding(void **state)
{
    (void)state;
    check_precompressed(1);
}

static void static__accept_encoding__q_values(void **state)
{
    (void)state;
    assert_true(st_accepts_encoding("gzip", "gzip"));
    assert_true(st_accepts_encoding("GZIP", "gzip"));
    assert_true(st_accepts_encoding("deflate, gzip;q=0.001", "gzip"));
    assert_false(st_accepts_encoding("gzip;q=0", "gzip"));
    assert_false(st_accepts_encoding("gzip;q=0.000", "gzip"));
    assert_false(st_accepts_encoding("gzip ; q=0", "gzip"));
    assert_true(st_accepts_encoding("gzip;level=1;q=1.0", "gzip"));
    assert_false(st_accepts_encoding("gzipx", "gzip"));
    assert_false(st_accepts_encoding("", "gzip"));
    assert_false(st_accepts_encoding(NULL, "gzip"));
    assert_true(st_accepts_encoding("*", "br"));
    assert_false(st_accepts_encoding("*, br;q=0", "br"));
    assert_false(st_accepts_encoding("gzip;q=x", "gzip"));
}

/* ---- the cache ---------------------------------------------------------------------- */

static void static__small_file__served_from_memory_and_big_by_fd(void **state)
{
    (void)state;
    int64_t saved = st_cache_racy_ns;
    st_cache_racy_ns = 0;
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = GET(i, "/a.txt");
    assert_false(stt_body_is_fd(r));
    assert_body(r, "alpha");
    stt_free(r);
    r = GET(i, "/big.bin");
    assert_true(stt_body_is_fd(r));
    stt_free(r);
    stt_destroy(i);
    /* young files are not cached (a writer may still be at work) */
    st_cache_racy_ns = INT64_MAX;
    i = make(NULL, NULL, NULL, NULL);
    r = GET(i, "/a.txt");
    assert_true(stt_body_is_fd(r));
    stt_free(r);
    stt_destroy(i);
    i = make("cache_max_file", "0", NULL, NULL);
    st_cache_racy_ns = 0;
    r = GET(i, "/a.txt");
    assert_true(stt_body_is_fd(r));
    stt_free(r);
    stt_destroy(i);
    st_cache_racy_ns = saved;
}

static void static__changed_file__seen_after_the_check_interval(void **state)
{
    (void)state;
    int64_t saved_racy = st_cache_racy_ns, saved_check = st_cache_check_ns;
    st_cache_racy_ns = 0;
    st_cache_check_ns = INT64_MAX;   /* first: never re-checked */
    put("www/chg.txt", "one");
    stt_instance *i = make(NULL, NULL, NULL, NULL);
    strata_request *r = GET(i, "/chg.txt");
    assert_body(r, "one");
    /* rewritten while a response still holds the old bytes */
    put("www/chg.txt", "two!");
    strata_request *r2 = GET(i, "/chg.txt");
    assert_body(r2, "one");          /* within the interval: the cached copy */
    stt_free(r2);
    st_cache_check_ns = 0;
    r2 = GET(i, "/chg.txt");
    assert_body(r2, "two!");
    stt_free(r2);
    assert_body(r, "one");           /* the first response's bytes are intact */
    stt_free(r);
    /* replaced by rename, same size */
    put("www/chg.tmp", "TWO!");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/www/chg.tmp", top);
    snprintf(b, sizeof b, "%s/www/chg.txt", top);
    assert_int_equal(rename(a, b), 0);
    r = GET(i, "/chg.txt");
    assert_body(r, "TWO!");
    stt_free(r);
    /* a sibling appears */
    put("www/chg.txt.gz", "GZ");
    r = req_h(i, "GET", "/chg.txt", "Accept-Encoding", "gzip", NULL);
    assert_body(r, "GZ");
    stt_free(r);
    /* deleted */
    unlink(b);
    r = GET(i, "/chg.txt");
    assert_int_equal(stt_status(r), 404);
    stt_free(r);
    snprintf(a, sizeof a, "%s/www/chg.txt.gz", top);
    unlink(a);
    stt_destroy(i);
    st_cache_racy_ns = saved_racy;
    st_cache_check_ns = saved_check;
}

static void static__cached_index__gives_way_to_a_better_one(void **state)
{
    (void)state;
    int64_t saved_racy = st_cache_racy_ns, saved_check = st_cache_check_ns;
    st_cache_racy_ns = 0;
    st_cache_check_ns = 0;
    mkd("www/idx");
    put("www/idx/second.html", "second");
    stt_instance *i = make("index", "first.html second.html", NULL, NULL);
    strata_request *r = GET(i, "/idx/");
    assert_body(r, "second");
    stt_free(r);
    r = GET(i, "/idx/");
    assert_false(stt_body_is_fd(r));   /* cached, and still current */
    assert_body(r, "second");
    stt_free(r);
    put("www/idx/first.html", "first");
    r = GET(i, "/idx/");
    assert_body(r, "first");
    stt_free(r);
    stt_destroy(i);
    char p[512];
    snprintf(p, sizeof p, "rm -rf '%s/www/idx'", top);
    assert_int_equal(system(p), 0);
    st_cache_racy_ns = saved_racy;
    st_cache_check_ns = saved_check;
}

static void static__cache_budget__evicts_least_recent(void **state)
{
    (void)state;
    st_tcache *c = st_tcache_new(3000);
    assert_non_null(c);
    st_centry *e[4];
    char key[8];
    for (int k = 0; k < 4; k++) {
        snprintf(key, sizeof key, "k%d", k);
        e[k] = st_centry_new(key, strlen(key), key);
        e[k]->rep[0] = st_rep_new(500);
        e[k]->cost += 500;
        assert_int_equal(st_tcache_put(c, e[k]), 1);
        if (k == 1)   /* touch k0: k1 becomes the oldest */
            assert_ptr_equal(st_tcache_get(c, "k0", 2, st_hash("k0", 2)), e[0]);
    }
    assert_true(c->bytes <= 3000);
    assert_null(st_tcache_get(c, "k1", 2, st_hash("k1", 2)));
    assert_non_null(st_tcache_get(c, "k0", 2, st_hash("k0", 2)));
    assert_non_null(st_tcache_get(c, "k3", 2, st_hash("k3", 2)));
    /* a rep in flight outlives its entry */
    st_rep *held = e[3]->rep[0];
    st_rep_ref(held);
    st_tcache_drop(c, e[3]);
    memset((char *)held->data, 'z', held->len);   /* still ours: ASan would tell */
    st_rep_unref(held);
    /* bigger than the whole budget: refused */
    st_centry *huge = st_centry_new("h", 1, "h");
    huge->cost += 5000;
    assert_int_equal(st_tcache_put(c, huge), 0);
    st_tcache_free(c);
}

static void static__io_thread__reads_page_cache_or_yields(void **state)
{
    (void)state;
    int64_t saved = st_cache_racy_ns;
    st_cache_racy_ns = 0;
    stt_instance *i = make("listing", "true", NULL, NULL);
    /* a small file that the page cache holds is read on the I/O thread */
    strata_request *r = stt_request("GET", "/sub/x.css");
    stt_may_block(r, 0);
    int rc = stt_run(i, r);
    assert_true(rc == STRATA_OK || rc == STRATA_YIELD);
    if (rc == STRATA_OK)
        assert_body(r, "body{}");
    stt_free(r);
    /* a listing always goes to the pool; nothing was set before */
    r = stt_request("GET", "/noindex/");
    stt_may_block(r, 0);
    assert_int_equal(stt_run(i, r), STRATA_YIELD);
    assert_int_equal(stt_status(r), 0);
    stt_free(r);
    stt_destroy(i);
    st_cache_racy_ns = saved;
}

/* ---- listings ------------------------------------------------------------------------- */

static void static__listing__escapes_names_and_hides_dotfiles(void **state)
{
    (void)state;
    stt_instance *i = make("listing", "true", NULL, NULL);
    strata_request *r = GET(i, "/list/");
    assert_int_equal(stt_status(r), 200);
    assert_string_equal(stt_header_out(r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(stt_header_out(r, "Cache-Control"), "no-cache");
    size_t len;
    const char *b = stt_body_out(r, &len);
    assert_non_null(b);
    assert_non_null(strstr(b, "&lt;script&gt;.txt"));
    assert_null(strstr(b, "<script>"));
    assert_non_null(strstr(b, "href=\"./%3Cscript%3E.txt\""));
    assert_non_null(strstr(b, "b&amp;c.txt"));
    assert_non_null(strstr(b, "href=\"./d/\""));
    assert_non_null(strstr(b, "href=\"../\""));
    assert_null(strstr(b, ".dot"));
    assert_true(strstr(b, "&lt;script") < strstr(b, "b&amp;c"));   /* sorted by bytes */
    stt_free(r);
    /* the root has no parent link; FIFOs are not listed */
    r = GET(i, "/");
    assert_int_equal(stt_status(r), 200);   /* index.html wins over the listing */
    assert_body(r, "home");
    stt_free(r);
    stt_destroy(i);
    i = make("listing", "true", "index", "none.html");
    r = GET(i, "/");
    b = stt_body_out(r, &len);
    assert_null(strstr(b, "href=\"../\""));
    assert_null(strstr(b, "fifo"));
    assert_null(strstr(b, ".git"));
    assert_non_null(strstr(b, ".well-known"));
    stt_free(r);
    stt_destroy(i);
}

static void static__index_list__first_existing_wins(void **state)
{
    (void)state;
    stt_instance *i = make("index", "nope.html, x.css", NULL, NULL);
    strata_request *r = GET(i, "/sub/");
    assert_int_equal(stt_status(r), 200);
    assert_body(r, "body{}");
    assert_string_equal(stt_header_out(r, "Content-Type"), "text/css; charset=utf-8");
    stt_free(r);
    stt_destroy(i);
}

static void static__hidden_allow__serves_dotfiles(void **state)
{
    (void)state;
    stt_instance *i = make("hidden", "allow", NULL, NULL);
    strata_request *r = GET(i, "/.git/config");
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    r = GET(i, "/../outside.txt");
    assert_int_equal(stt_status(r), 403);   /* ".." is never a name */
    stt_free(r);
    stt_destroy(i);
}

static void static__symlinks_never__refuses_links_inside(void **state)
{
    (void)state;
    stt_instance *i = make("symlinks", "never", NULL, NULL);
    strata_request *r = GET(i, "/link-in");
    assert_int_equal(stt_status(r), 403);
    stt_free(r);
    r = GET(i, "/a.txt");
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

/* ---- configuration ----------------------------------------------------------------------- */

static void static__config_errors__name_the_key(void **state)
{
    (void)state;
    assert_null(stt_create(&strata_plugin, top, NULL));
    assert_non_null(strstr(stt_last_error(), "root"));
    assert_null(stt_create(&strata_plugin, top, "root", "/nonexistent/www", NULL));
    assert_non_null(strstr(stt_last_error(), "root: cannot open '/nonexistent/www'"));
    char f[512];
    snprintf(f, sizeof f, "%s/a.txt", root);
    assert_null(stt_create(&strata_plugin, top, "root", f, NULL));
    assert_non_null(strstr(stt_last_error(), "Not a directory"));
    assert_null(stt_create(&strata_plugin, top, "root", root, "mime_types", "css", NULL));
    assert_non_null(strstr(stt_last_error(), "mime_types: expected EXT=TYPE, got 'css'"));
    assert_null(stt_create(&strata_plugin, top, "root", root, "index", "a/b.html", NULL));
    assert_non_null(strstr(stt_last_error(), "index:"));
    assert_null(stt_create(&strata_plugin, top, "root", root, "hidden_allow", "git", NULL));
    assert_non_null(strstr(stt_last_error(), "hidden_allow:"));
    assert_null(stt_create(&strata_plugin, top, "root", root, "mime_file", "/nope/types", NULL));
    assert_non_null(strstr(stt_last_error(), "mime_file: cannot read '/nope/types'"));
    assert_null(stt_create(&strata_plugin, top, "root", root, "symlinks", "always", NULL));
    assert_null(stt_create(&strata_plugin, top, "root", root, "max_age", "-2", NULL));
    /* a relative root is taken from the config file's folder */
    stt_instance *i = stt_create(&strata_plugin, top, "root", "www", NULL);
    assert_non_null(i);
    strata_request *r = GET(i, "/a.txt");
    assert_int_equal(stt_status(r), 200);
    stt_free(r);
    stt_destroy(i);
}

static void static__descriptor__app_nonblocking(void **state)
{
    (void)state;
    assert_int_equal(strata_plugin.kind, STRATA_APP);
    assert_true(strata_plugin.flags & STRATA_NONBLOCKING);
    assert_string_equal(strata_plugin.name, "static");
}

static void static__fd_count__unchanged_after_many_requests(void **state)
{
    (void)state;
    int64_t saved = st_cache_racy_ns;
    st_cache_racy_ns = INT64_MAX;   /* every answer opens the file */
    stt_instance *i = make("listing", "true", NULL, NULL);
    int before = open("/dev/null", O_RDONLY);
    close(before);
    const char *const uris[] = {"/a.txt", "/big.bin", "/nope", "/sub", "/sub/", "/fifo",
                                "/link-out", "/list/", "/page.html"};
    for (int n = 0; n < 300; n++) {
        strata_request *r = stt_request("GET", uris[n % 9]);
        if (n % 3 == 0)
            stt_header(r, "Range", "bytes=0-1");
        if (n % 4 == 0)
            stt_header(r, "Accept-Encoding", "gzip");
        if (n % 5 == 0)
            stt_header(r, "If-None-Match", "*");
        stt_run(i, r);
        stt_free(r);
    }
    int after = open("/dev/null", O_RDONLY);
    close(after);
    assert_int_equal(before, after);   /* lowest free descriptor unchanged */
    stt_destroy(i);
    st_cache_racy_ns = saved;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static__path_table_openat2__every_row),
        cmocka_unit_test(static__path_table_openat2_cached__every_row),
        cmocka_unit_test(static__path_table_walk__every_row),
        cmocka_unit_test(static__path_table_walk_cached__every_row),
        cmocka_unit_test(static__normalize_table__every_row),
        cmocka_unit_test(static__normalize_limits__long_paths_refused),
        cmocka_unit_test(static__long_name__returns_404),
        cmocka_unit_test(static__raw_uri_escapes__detected),
        cmocka_unit_test(static__range_table__every_row),
        cmocka_unit_test(static__range_request__returns_206_with_content_range),
        cmocka_unit_test(static__unsatisfiable_range__returns_416_with_size),
        cmocka_unit_test(static__multiple_ranges__return_whole_file_200),
        cmocka_unit_test(static__range_on_head__ignored),
        cmocka_unit_test(static__etag__is_strong_and_quoted),
        cmocka_unit_test(static__if_none_match__returns_304_without_body),
        cmocka_unit_test(static__if_modified_since__returns_304_when_not_newer),
        cmocka_unit_test(static__if_none_match__wins_over_if_modified_since),
        cmocka_unit_test(static__if_range__mismatch_sends_whole_file),
        cmocka_unit_test(static__if_match__failing_returns_412),
        cmocka_unit_test(static__evaluate__rfc9110_order),
        cmocka_unit_test(static__http_dates__three_formats),
        cmocka_unit_test(static__etag_lists__weak_and_strong_comparison),
        cmocka_unit_test(static__mime_lookup__file_builtin_and_user),
        cmocka_unit_test(static__mime_system_file__common_types),
        cmocka_unit_test(static__content_type__from_table_and_options),
        cmocka_unit_test(static__post__returns_405_with_allow),
        cmocka_unit_test(static__head__same_headers_as_get),
        cmocka_unit_test(static__max_age__sets_cache_control),
        cmocka_unit_test(static__dir_without_slash__redirects_with_query),
        cmocka_unit_test(static__mounted__serves_below_prefix_and_redirects_with_it),
        cmocka_unit_test(static__special_names__location_is_encoded),
        cmocka_unit_test(static__precompressed__chosen_by_accept_encoding),
        cmocka_unit_test(static__precompressed_cached__chosen_by_accept_encoding),
        cmocka_unit_test(static__accept_encoding__q_values),
        cmocka_unit_test(static__small_file__served_from_memory_and_big_by_fd),
        cmocka_unit_test(static__changed_file__seen_after_the_check_interval),
        cmocka_unit_test(static__cached_index__gives_way_to_a_better_one),
        cmocka_unit_test(static__cache_budget__evicts_least_recent),
        cmocka_unit_test(static__io_thread__reads_page_cache_or_yields),
        cmocka_unit_test(static__listing__escapes_names_and_hides_dotfiles),
        cmocka_unit_test(static__index_list__first_existing_wins),
        cmocka_unit_test(static__hidden_allow__serves_dotfiles),
        cmocka_unit_test(static__symlinks_never__refuses_links_inside),
        cmocka_unit_test(static__config_errors__name_the_key),
        cmocka_unit_test(static__descriptor__app_nonblocking),
        cmocka_unit_test(static__fd_count__unchanged_after_many_requests),
    };
    return cmocka_run_group_tests_name("static", tests, make_tree, remove_tree);
}
