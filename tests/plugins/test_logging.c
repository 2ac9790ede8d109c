/* test_logging.c — the logging plugin: format compiler and every directive,
 * escaping of hostile values, JSON validity, sinks, reopen, flush, and the
 * per-thread buffers under concurrent writers (TSan-suitable: the
 * concurrency tests drive writer.c directly, one buffer per thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "format.h"
#include "writer.h"
#include "../../host/request.h"   /* to pin a request's start time */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;

/* 2001-09-09T01:46:40.123456Z; with TZ=ABC-05:30 that is 07:16:40 +0530 */
#define T0_US 1000000000123456LL

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/strata-logtest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/access.log", f->dir);
    stt_log_clear();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char tmp[65536];
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + len, tmp, n);
        len += n;
    }
    fclose(fp);
    if (!buf)
        buf = calloc(1, 1);
    buf[len] = '\0';
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void assert_matches(const char *s, const char *re)
{
    regex_t rx;
    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&rx, s, 0, NULL, 0);
    regfree(&rx);
    if (rc != 0)
        fail_msg("'%s' does not match /%s/", s, re);
}

/* ---- a request through the plugin ---- */

struct resp {
    int status;
    const char *body;
    const char *hname, *hvalue;
};

static int downstream(strata_request *req, void *ctx)
{
    const struct resp *r = ctx;
    const strata_host *h = stt_host();
    h->set_status(req, r->status);
    if (r->hname)
        h->set_header(req, r->hname, r->hvalue);
    if (r->body)
        h->set_body(req, r->body, strlen(r->body), STRATA_BODY_COPY);
    return STRATA_OK;
}

/* One exchange; returns the file's whole text (malloc'd). `prep` adds
 * headers and variables. */
static char *one_line(struct fx *f, const char *format, const char *method, const char *uri,
                      const struct resp *resp, int sent_ok,
                      void (*prep)(strata_request *, void *), void *arg)
{
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format", format, NULL);
    if (!in)
        fail_msg("create: %s", stt_last_error());
    strata_request *req = stt_request(method, uri);
    req->start_unix_us = T0_US;
    if (prep)
        prep(req, arg);
    stt_on_next(req, downstream, (void *)resp);
    assert_int_equal(stt_run(in, req), STRATA_OK);
    stt_complete(in, req, sent_ok);
    stt_event(in, STRATA_EVENT_FLUSH);
    char *text = slurp(f->path);   /* written by the flush, before destroy */
    stt_free(req);
    stt_destroy(in);
    assert_non_null(text);
    return text;
}

static const struct resp OK5 = {200, "hello", NULL, NULL};

static void prep_full(strata_request *req, void *arg)
{
    stt_header(req, "Referer", "http://ref.example/x");
    stt_header(req, "User-Agent", "ua/1.0");
    stt_header(req, "Host", "example.org:8080");
    stt_var(req, STRATA_VAR_USER, "alice");
    stt_var(req, "route", "/api");
    stt_client(req, "10.1.2.3");
}

/* ---- formats ---- */

static void combined__default_format__apache_line(void **state)
{
    struct fx *f = *state;
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, NULL);
    assert_non_null(in);
    strata_request *req = stt_request("GET", "/a/b?x=1");
    req->start_unix_us = T0_US;
    prep_full(req, NULL);
    will_return(stt_next, 200);
    will_return(stt_next, "hello");
    assert_int_equal(stt_run(in, req), STRATA_OK);
    stt_complete(in, req, 1);
    stt_free(req);
    stt_destroy(in);   /* destroy alone must flush */
    char *text = slurp(f->path);
    assert_string_equal(text, "10.1.2.3 - alice [09/Sep/2001:07:16:40 +0530] \"GET /a/b?x=1 HTTP/1.1\" "
                              "200 5 \"http://ref.example/x\" \"ua/1.0\"\n");
    free(text);
}

static void common__format__no_referer_or_agent(void **state)
{
    char *text = one_line(*state, "common", "GET", "/x", &OK5, 1, prep_full, NULL);
    assert_string_equal(text,
                        "10.1.2.3 - alice [09/Sep/2001:07:16:40 +0530] \"GET /x HTTP/1.1\" 200 5\n");
    free(text);
}

static void combined__absent_headers__dash_and_empty_quotes(void **state)
{
    char *text = one_line(*state, "combined", "GET", "/", &OK5, 1, NULL, NULL);
    assert_string_equal(text, "127.0.0.1 - - [09/Sep/2001:07:16:40 +0530] \"GET / HTTP/1.1\" "
                              "200 5 \"-\" \"-\"\n");
    free(text);
}

/* ---- each directive ---- */

static void directives__request_fields(void **state)
{
    char *text = one_line(*state, "%h|%a|%{c}a|%l|%u|%r|%m|%U|%q|%H|%V|%v|%%|%{route}e",
                          "POST", "/app/x%20y?q=1&r=2", &OK5, 1, prep_full, NULL);
    assert_string_equal(text, "10.1.2.3|10.1.2.3|10.1.2.3|-|alice|POST /app/x%20y?q=1&r=2 HTTP/1.1|"
                              "POST|/app/x y|?q=1&r=2|HTTP/1.1|example.org:8080|example.org:8080|%|/api\n");
    free(text);
}

static void mount(strata_request *req, void *arg) { stt_mount(req, "/app"); }

static void directives__urlpath_under_mount__full_path(void **state)
{
    char *text = one_line(*state, "%U|%q", "GET", "/app/x?", &OK5, 1, mount, NULL);
    assert_string_equal(text, "/app/x|?\n");
    free(text);
    unlink(((struct fx *)*state)->path);
    text = one_line(*state, "%U|%q", "GET", "/app", &OK5, 1, mount, NULL);
    assert_string_equal(text, "/app|\n");
    free(text);
}

static void directives__response_fields(void **state)
{
    struct resp r = {201, "created!", "X-Out", "v1"};
    char *text = one_line(*state, "%s|%>s|%<s|%b|%B|%{X-Out}o|%{X-None}o|%X", "PUT", "/r", &r, 1,
                          NULL, NULL);
    assert_string_equal(text, "201|201|201|8|8|v1|-|+\n");
    free(text);
}

static void directives__times(void **state)
{
    char *text = one_line(*state,
                          "%t|%{sec}t|%{msec}t|%{usec}t|%{msec_frac}t|%{usec_frac}t|"
                          "%{%Y-%m-%d %H:%M}t|%{begin:sec}t",
                          "GET", "/", &OK5, 1, NULL, NULL);
    assert_string_equal(text, "[09/Sep/2001:07:16:40 +0530]|1000000000|1000000000123|"
                              "1000000000123456|123|123456|2001-09-09 07:16|1000000000\n");
    free(text);
}

static void directives__durations_are_numbers(void **state)
{
    char *text = one_line(*state, "%D|%T|%{ms}T|%{us}T|%{s}T|%{end:sec}t", "GET", "/", &OK5, 1,
                          NULL, NULL);
    assert_matches(text, "^[0-9]+\\|0\\|[0-9]+\\|[0-9]+\\|0\\|1000000000\n$");
    free(text);
}

static void directives__pid_and_tid(void **state)
{
    char *text = one_line(*state, "%P|%{pid}P|%{tid}P", "GET", "/", &OK5, 1, NULL, NULL);
    char want[64];
    snprintf(want, sizeof want, "%d|%d|%d\n", (int)getpid(), (int)getpid(), (int)gettid());
    assert_string_equal(text, want);
    free(text);
}

static void set_empty_user(strata_request *req, void *arg) { stt_var(req, STRATA_VAR_USER, ""); }

static void user__empty__quoted_as_apache(void **state)
{
    char *text = one_line(*state, "%u", "GET", "/", &OK5, 1, set_empty_user, NULL);
    assert_string_equal(text, "\"\"\n");
    free(text);
}

static void status_condition__only_listed_codes(void **state)
{
    struct resp nf = {404, "no", NULL, NULL};
    char *text = one_line(*state, "%200,304{Referer}i|%!200{Referer}i|%404{Referer}i", "GET", "/",
                          &nf, 1, prep_full, NULL);
    assert_string_equal(text, "-|http://ref.example/x|http://ref.example/x\n");
    free(text);
    unlink(((struct fx *)*state)->path);
    text = one_line(*state, "%!200,304{Referer}i", "GET", "/", &OK5, 1, prep_full, NULL);
    assert_string_equal(text, "-\n");
    free(text);
}

/* ---- bytes ---- */

static void bytes__head__dash(void **state)
{
    char *text = one_line(*state, "%b|%B", "HEAD", "/", &OK5, 1, NULL, NULL);
    assert_string_equal(text, "-|0\n");
    free(text);
}

static void bytes__304__no_body(void **state)
{
    struct resp r = {304, "", NULL, NULL};
    char *text = one_line(*state, "%>s %b %B", "GET", "/", &r, 1, NULL, NULL);
    assert_string_equal(text, "304 - 0\n");
    free(text);
}

static void bytes__no_body__dash(void **state)
{
    struct resp r = {204, NULL, NULL, NULL};
    char *text = one_line(*state, "%>s %b", "DELETE", "/", &r, 1, NULL, NULL);
    assert_string_equal(text, "204 -\n");
    free(text);
}

/* The server hands the body to libmicrohttpd before on_complete; the
 * host keeps its length readable, and the log must show it. */
static void bytes__fd_body_handed_off__length_after_next(void **state)
{
    struct fx *f = *state;
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format", "%b %B", NULL);
    assert_non_null(in);
    strata_request *req = stt_request("GET", "/big");
    will_return(stt_next, 200);
    will_return(stt_next, "0123456789");
    assert_int_equal(stt_run(in, req), STRATA_OK);
    req->handed = 1;           /* what server.c does when it queues the response */
    stt_complete(in, req, 1);
    stt_free(req);
    stt_destroy(in);
    char *text = slurp(f->path);
    assert_string_equal(text, "10 10\n");
    free(text);
}

static void aborted__logged_with_x_and_no_bytes(void **state)
{
    char *text = one_line(*state, "%>s %b %X", "GET", "/", &OK5, 0, NULL, NULL);
    assert_string_equal(text, "200 - X\n");
    free(text);
}

/* ---- compiler errors ---- */

static void expect_format_error(struct fx *f, const char *format, const char *msg)
{
    stt_log_clear();
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format", format, NULL);
    if (in) {
        stt_destroy(in);
        fail_msg("format '%s' was accepted", format);
    }
    if (!strstr(stt_last_error(), msg))
        fail_msg("error for '%s' is '%s', expected '%s'", format, stt_last_error(), msg);
    assert_non_null(strstr(stt_last_error(), "format:"));
}

static void compile__unknown_directive__config_error_names_it(void **state)
{
    expect_format_error(*state, "%h %Z %b", "unknown directive '%Z'");
    expect_format_error(*state, "%{Referer}j", "unknown directive '%{Referer}j'");
    expect_format_error(*state, "%>Q", "unknown directive '%>Q'");
    expect_format_error(*state, "%{x}a", "unknown directive '%{x}a'");
}

static void compile__malformed__config_errors(void **state)
{
    expect_format_error(*state, "%h %", "lacks a directive");
    expect_format_error(*state, "%{Referer", "unterminated '%{'");
    expect_format_error(*state, "%i", "'%i' needs a name");
    expect_format_error(*state, "%{}o", "'%o' needs a name");
    expect_format_error(*state, "%{hours}T", "expected s, ms or us");
    expect_format_error(*state, "%{who}P", "expected pid or tid");
    expect_format_error(*state, "%!s", "'!' needs status codes");
    expect_format_error(*state, "%20s", "3-digit codes");
    expect_format_error(*state, "%200,201,202,203,204,205,206,207,208s", "at most 8");
    expect_format_error(*state, "", "empty");
}

static void compile__literals_and_ops(void **state)
{
    struct lf_format fm;
    char err[128];
    assert_int_equal(lf_compile("a%%b %h\"%r\"", &fm, err, sizeof err), 0);
    /* "a" "%" "b " %h "\"" %r "\"" */
    assert_int_equal(fm.n, 7);
    lf_free(&fm);
    assert_int_equal(lf_compile("combined", &fm, err, sizeof err), 0);
    assert_true(fm.n > 10);
    lf_free(&fm);
    assert_int_equal(lf_compile("JSON", &fm, err, sizeof err), 0);
    assert_int_equal(fm.n, 1);
    lf_free(&fm);
}

/* ---- escaping ---- */

static void escape(const char *in, const char *want, int json)
{
    struct lbuf b = {0};
    (json ? lf_escape_json : lf_escape_apache)(&b, in);
    lbuf_putc(&b, '\0');
    assert_string_equal(b.p, want);
    lbuf_free(&b);
}

static void escape__apache__quotes_backslashes_controls(void **state)
{
    escape("plain text/1.0 (x; y)", "plain text/1.0 (x; y)", 0);
    escape("a\"b\\c", "a\\\"b\\\\c", 0);
    escape("\n\r\t\b\v", "\\n\\r\\t\\b\\v", 0);
    escape("\x01\x1f\x7f", "\\x01\\x1f\\x7f", 0);
    escape("caf\xc3\xa9 \xff", "caf\\xc3\\xa9 \\xff", 0);
}

static void escape__json__rfc8259(void **state)
{
    escape("a\"b\\c/d", "a\\\"b\\\\c/d", 1);
    escape("\n\r\t\b\f", "\\n\\r\\t\\b\\f", 1);
    escape("\x01\x1f\x7f", "\\u0001\\u001f\\u007f", 1);
    escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 1);
    /* not UTF-8: stray continuation, overlong '/', surrogate, cut sequence */
    escape("\x80", "\\u0080", 1);
    escape("\xc0\xaf", "\\u00c0\\u00af", 1);
    escape("\xed\xa0\x80", "\\u00ed\\u00a0\\u0080", 1);
    escape("\xe2\x82", "\\u00e2\\u0082", 1);
    escape("\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080", 1);
}

/* The escapers copy 16 bytes at a time where they can; a byte-at-a-time
 * model must agree for every length around the block size and every
 * position of every kind of special byte. */
static size_t model_escape(char *o, const unsigned char *p, int json)
{
    char *start = o;
    for (; *p; p++) {
        unsigned c = *p;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *o++ = (char)c;
        } else if (json && c >= 0x80 && c <= 0xdf && c >= 0xc2 && (p[1] & 0xc0) == 0x80) {
            *o++ = (char)c;       /* the test strings' only UTF-8 is 2-byte */
            *o++ = (char)*++p;
        } else if (c == '"' || c == '\\') {
            o += sprintf(o, "\\%c", c);
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b') {
            o += sprintf(o, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 'b');
        } else if (!json && c == '\v') {
            o += sprintf(o, "\\v");
        } else if (json && c == '\f') {
            o += sprintf(o, "\\f");
        } else {
            o += sprintf(o, json ? "\\u%04x" : "\\x%02x", c);
        }
    }
    *o = '\0';
    return (size_t)(o - start);
}

static void escape__every_length_and_position__matches_bytewise_model(void **state)
{
    static const char *specials[] = {"\"", "\\", "\n", "\x01", "\x7f", "\xff", "\xc3\xa9", "\v", "\f"};
    char in[80], want[80 * 6 + 1];
    for (int json = 0; json <= 1; json++)
        for (size_t len = 0; len < 40; len++)
            for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
                for (size_t at = 0; at <= len; at++) {
                    /* len plain bytes with a special inserted at `at`
                     * (at == len: none) */
                    size_t n = 0;
                    for (size_t i = 0; i < len; i++) {
                        if (i == at)
                            for (const char *sp = specials[k]; *sp; sp++)
                                in[n++] = *sp;
                        in[n++] = (char)('a' + i % 26);
                    }
                    in[n] = '\0';
                    model_escape(want, (const unsigned char *)in, json);
                    escape(in, want, json);
                }
}

static const char HOSTILE_UA[] = "evil\" 200 0 \"-\" \"x\"\n10.0.0.1 - admin [forged]\r\\\x01\x7f\xff";

static void prep_hostile(strata_request *req, void *arg)
{
    stt_header(req, "User-Agent", HOSTILE_UA);
    stt_header(req, "Referer", "\"\\");
    stt_var(req, STRATA_VAR_USER, "bob\" \n");
}

static void hostile__combined__one_line_no_forgery(void **state)
{
    char *text = one_line(*state, "combined", "GET", "/p\"\x01?q=\"\\", &OK5, 1, prep_hostile, NULL);
    assert_int_equal(count_char(text, '\n'), 1);
    assert_string_equal(text, "127.0.0.1 - bob\\\" \\n [09/Sep/2001:07:16:40 +0530] "
                              "\"GET /p\\\"\\x01?q=\\\"\\\\ HTTP/1.1\" 200 5 \"\\\"\\\\\" "
                              "\"evil\\\" 200 0 \\\"-\\\" \\\"x\\\"\\n10.0.0.1 - admin [forged]\\r\\\\"
                              "\\x01\\x7f\\xff\"\n");
    /* every quoted field still splits cleanly: 6 unescaped quotes */
    size_t q = 0;
    for (const char *p = text; *p; p++)
        if (*p == '\\')
            p++;
        else if (*p == '"')
            q++;
    assert_int_equal(q, 6);
    free(text);
}

/* ---- JSON ---- */

/* A strict RFC 8259 validator: one value, optional whitespace around. */
struct jp {
    const unsigned char *p, *e;
};

static void jws(struct jp *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jvalue(struct jp *j, int depth);

static int jstring(struct jp *j)
{
    if (j->p >= j->e || *j->p++ != '"')
        return 0;
    while (j->p < j->e) {
        unsigned c = *j->p++;
        if (c == '"')
            return 1;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j->p >= j->e)
                return 0;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, j->p++)
                    if (j->p >= j->e || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                        return 0;
            } else if (!strchr("\"\\/bfnrt", (int)c) || !c) {
                return 0;
            }
        } else if (c >= 0x80) {
            int n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c <= 0xdf ? 1 : -1;
            if (n < 0 || c > 0xf4)
                return 0;
            const unsigned char *s = j->p - 1;
            for (int i = 0; i < n; i++, j->p++)
                if (j->p >= j->e || (*j->p & 0xc0) != 0x80)
                    return 0;
            if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
                (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
                return 0;
        }
    }
    return 0;
}

static int jnumber(struct jp *j)
{
    const unsigned char *s = j->p;
    if (j->p < j->e && *j->p == '-')
        j->p++;
    if (j->p < j->e && *j->p == '0')
        j->p++;
    else if (j->p < j->e && *j->p >= '1' && *j->p <= '9')
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    else
        return 0;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->e || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static int jlit(struct jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, w, n) != 0)
        return 0;
    j->p += n;
    return 1;
}

static int jvalue(struct jp *j, int depth)
{
    if (depth > 32)
        return 0;
    jws(j);
    if (j->p >= j->e)
        return 0;
    switch (*j->p) {
    case '"': return jstring(j);
    case 't': return jlit(j, "true");
    case 'f': return jlit(j, "false");
    case 'n': return jlit(j, "null");
    case '{':
    case '[': {
        int obj = *j->p++ == '{';
        jws(j);
        if (j->p < j->e && *j->p == (obj ? '}' : ']'))
            return j->p++, 1;
        for (;;) {
            if (obj) {
                jws(j);
                if (!jstring(j))
                    return 0;
                jws(j);
                if (j->p >= j->e || *j->p++ != ':')
                    return 0;
            }
            if (!jvalue(j, depth + 1))
                return 0;
            jws(j);
            if (j->p >= j->e)
                return 0;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            return *j->p++ == (obj ? '}' : ']');
        }
    }
    default: return jnumber(j);
    }
}

static int json_valid(const char *s, size_t n)
{
    struct jp j = {(const unsigned char *)s, (const unsigned char *)s + n};
    if (!jvalue(&j, 0))
        return 0;
    jws(&j);
    return j.p == j.e;
}

static void json_validator__self_check(void **state)
{
    assert_true(json_valid("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]}", 35));
    assert_false(json_valid("{\"a\":\"\x01\"}", 9));
    assert_false(json_valid("{\"a\":\"\xff\"}", 9));
    assert_false(json_valid("{\"a\":1,}", 8));
    assert_false(json_valid("{\"a\":01}", 8));
}

static void json__fields__valid_object(void **state)
{
    char *text = one_line(*state, "json", "GET", "/a/b?x=1&y", &OK5, 1, prep_full, NULL);
    size_t n = strlen(text);
    assert_true(n > 1 && text[n - 1] == '\n');
    assert_int_equal(count_char(text, '\n'), 1);
    assert_true(json_valid(text, n - 1));
    assert_matches(text, "^\\{\"time\":\"2001-09-09T07:16:40\\.123\\+05:30\","
                         "\"client\":\"10\\.1\\.2\\.3\",\"method\":\"GET\",\"path\":\"/a/b\","
                         "\"query\":\"x=1&y\",\"protocol\":\"HTTP/1\\.1\",\"status\":200,"
                         "\"bytes\":5,\"referer\":\"http://ref\\.example/x\","
                         "\"user_agent\":\"ua/1\\.0\",\"user\":\"alice\",\"duration_us\":[0-9]+,"
                         "\"timings\":\\[[^]]*\\]\\}\n$");
    free(text);
}

static void json__absent_values__null(void **state)
{
    char *text = one_line(*state, "json", "HEAD", "/", &OK5, 0, NULL, NULL);
    assert_true(json_valid(text, strlen(text) - 1));
    assert_non_null(strstr(text, "\"query\":null,"));
    assert_non_null(strstr(text, "\"referer\":null,\"user_agent\":null,\"user\":null,"));
    assert_non_null(strstr(text, "\"bytes\":0,"));
    assert_non_null(strstr(text, "\"aborted\":true"));
    free(text);
}

static void json__hostile_values__still_valid(void **state)
{
    char *text = one_line(*state, "json", "GET", "/p\"\x01\xc3?q=\"\\\xff", &OK5, 1, prep_hostile,
                          NULL);
    size_t n = strlen(text);
    assert_int_equal(count_char(text, '\n'), 1);
    assert_true(json_valid(text, n - 1));
    assert_non_null(strstr(text, "\"user\":\"bob\\\" \\n\""));
    assert_non_null(strstr(text, "\\r\\\\\\u0001\\u007f\\u00ff\""));
    free(text);
}

/* ---- files and sinks ---- */

static void file__created_0640_and_appended(void **state)
{
    struct fx *f = *state;
    mode_t old = umask(022);
    FILE *fp = fopen(f->path, "w");
    fputs("old line\n", fp);
    fclose(fp);
    chmod(f->path, 0600);
    char *text = one_line(f, "%m", "GET", "/", &OK5, 1, NULL, NULL);
    assert_string_equal(text, "old line\nGET\n");
    free(text);
    unlink(f->path);
    text = one_line(f, "%m", "GET", "/", &OK5, 1, NULL, NULL);
    free(text);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    umask(old);
}

static void file__cannot_open__config_error(void **state)
{
    struct fx *f = *state;
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/a.log", f->dir);
    assert_null(stt_create(&strata_plugin, f->dir, "file", bad, NULL));
    assert_non_null(strstr(stt_last_error(), "file: cannot open '"));
    assert_non_null(strstr(stt_last_error(), "No such file or directory"));
}

static void file__stderr_name__is_not_a_file(void **state)
{
    struct fx *f = *state;
    char p[160];
    const char *names[] = {"stderr", "-", "stdout"};
    for (size_t i = 0; i < 3; i++) {
        stt_instance *in = stt_create(&strata_plugin, f->dir, "file", names[i], NULL);
        assert_non_null(in);
        stt_destroy(in);
        snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    /* "./stderr" is a real file */
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", "./stderr", NULL);
    assert_non_null(in);
    stt_destroy(in);
    snprintf(p, sizeof p, "%s/./stderr", f->dir);
    assert_int_equal(access(p, F_OK), 0);
}

static void log_one(stt_instance *in, const char *uri)
{
    strata_request *req = stt_request("GET", uri);
    will_return(stt_next, 200);
    will_return(stt_next, "ok");
    assert_int_equal(stt_run(in, req), STRATA_OK);
    stt_complete(in, req, 1);
    stt_free(req);
}

static void reopen__after_rename__new_file_gets_new_lines(void **state)
{
    struct fx *f = *state;
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format", "%U", NULL);
    assert_non_null(in);
    log_one(in, "/before");
    char moved[160];
    snprintf(moved, sizeof moved, "%s.1", f->path);
    assert_int_equal(rename(f->path, moved), 0);
    log_one(in, "/between");   /* logged before the signal: old file */
    stt_event(in, STRATA_EVENT_REOPEN);
    stt_event(in, STRATA_EVENT_FLUSH);   /* the writer reopened before this returns */
    log_one(in, "/after");
    stt_event(in, STRATA_EVENT_FLUSH);
    char *old = slurp(moved), *cur = slurp(f->path);
    assert_non_null(cur);
    assert_string_equal(old, "/before\n/between\n");
    assert_string_equal(cur, "/after\n");
    free(old);
    free(cur);
    stt_destroy(in);
}

static void flush__interval__line_appears_without_event(void **state)
{
    struct fx *f = *state;
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format", "%U",
                                  "flush", "0.05", NULL);
    assert_non_null(in);
    log_one(in, "/live");
    char *text = NULL;
    for (int i = 0; i < 200; i++) {   /* up to 2 s; the interval is 50 ms */
        free(text);
        text = slurp(f->path);
        if (text && strcmp(text, "/live\n") == 0)
            break;
        usleep(10000);
    }
    assert_string_equal(text, "/live\n");
    free(text);
    stt_destroy(in);
}

static void buffer__small__many_and_long_lines_all_written(void **state)
{
    struct fx *f = *state;
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", f->path, "format",
                                  "%{X-Seq}i %{X-Pad}i", "buffer", "1K", NULL);
    assert_non_null(in);
    char pad[5000];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        strata_request *req = stt_request("GET", "/");
        char seq[16];
        snprintf(seq, sizeof seq, "%d", i);
        stt_header(req, "X-Seq", seq);
        stt_header(req, "X-Pad", i % 100 == 7 ? pad : "x");   /* some lines > buffer */
        will_return(stt_next, 200);
        will_return(stt_next, "ok");
        stt_run(in, req);
        stt_complete(in, req, 1);
        stt_free(req);
    }
    stt_destroy(in);
    char *text = slurp(f->path);
    assert_int_equal(count_char(text, '\n'), 2000);
    char *p = text;
    for (int i = 0; i < 2000; i++) {   /* in order, whole */
        char *nl = strchr(p, '\n');
        *nl = '\0';
        char want[16];
        int n = snprintf(want, sizeof want, "%d ", i);
        assert_memory_equal(p, want, (size_t)n);
        assert_int_equal(strlen(p + n), i % 100 == 7 ? strlen(pad) : 1);
        p = nl + 1;
    }
    free(text);
}

static void syslog__datagram_per_line__tag_and_facility(void **state)
{
    struct fx *f = *state;
    char sock[128];
    snprintf(sock, sizeof sock, "%s/log.sock", f->dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", "syslog", "syslog_socket", sock,
                                  "syslog_tag", "web1", "syslog_facility", "LOCAL3", "format",
                                  "%m %U", NULL);
    assert_non_null(in);
    log_one(in, "/one");
    log_one(in, "/two");
    stt_event(in, STRATA_EVENT_FLUSH);
    char want[64];
    snprintf(want, sizeof want, " web1[%d]: GET /one", (int)getpid());
    char buf[512];
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_matches(buf, "^<158>[A-Z][a-z]{2} [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} web1\\[");
    assert_non_null(strstr(buf, want));
    assert_null(strchr(buf, '\n'));
    n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "]: GET /two"));
    stt_destroy(in);
    close(fd);
}

static void syslog__no_daemon__requests_flow_and_one_report(void **state)
{
    struct fx *f = *state;
    char sock[128];
    snprintf(sock, sizeof sock, "%s/none.sock", f->dir);
    stt_log_clear();
    stt_instance *in = stt_create(&strata_plugin, f->dir, "file", "syslog", "syslog_socket", sock,
                                  NULL);
    assert_non_null(in);
    for (int i = 0; i < 50; i++)
        log_one(in, "/x");
    stt_event(in, STRATA_EVENT_FLUSH);
    assert_non_null(strstr(stt_log_text(), "cannot connect to syslog at '"));
    stt_destroy(in);
}

/* ---- the writer, directly ---- */

static struct lw_config wcfg(const char *path, size_t chunk, unsigned max_chunks)
{
    struct lw_config c = {
        .sink = LW_FILE, .path = path, .chunk_size = chunk, .max_chunks = max_chunks,
        .flush_ns = 1000000000LL, .stall_ns = 30 * 1000000000LL, .host = stt_host(),
    };
    return c;
}

static void writer__unwritable__drops_counts_reports_once_a_second(void **state)
{
    if (access("/dev/full", W_OK) != 0)
        skip();
    stt_log_clear();
    struct lw_config c = wcfg("/dev/full", 4096, 4);
    struct lw_writer *w;
    char err[256];
    assert_int_equal(lw_open(&w, &c, err, sizeof err), 0);
    struct lw_tbuf *t = lw_thread(w);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            assert_int_equal(lw_append(t, "GET / 200\n", 10), 0);
        assert_int_equal(lw_flush(w, 5000000000LL), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(lw_lines_lost(w), 300);
    assert_int_equal(lw_lines_written(w), 0);
    const char *log = stt_log_text();
    assert_non_null(strstr(log, "cannot write to '/dev/full': No space left on device; 100 lines lost"));
    if (t1.tv_sec - t0.tv_sec < 1)   /* three batches well within a second: one report */
        assert_int_equal(count_char(log, '\n'), 1);
    lw_close(w);   /* the rest is reported at the stop */
    assert_non_null(strstr(stt_log_text(), "200 lines lost"));
}

#define NTHREADS 8
#define PER_THREAD 20000

struct producer {
    struct lw_writer *w;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct lw_tbuf *t = lw_thread(p->w);
    char line[96];
    for (int i = 0; i < PER_THREAD; i++) {
        int n = snprintf(line, sizeof line, "t%d %d %s\n", p->id, i,
                         i % 1000 == 999 ? "long-line-padding-padding-padding-padding" : "x");
        if (lw_append(t, line, (size_t)n) != 0)
            return (void *)1;
        if (i % 5000 == 0)
            lw_flush(p->w, 5000000000LL);
    }
    lw_thread_retire(t);   /* the writer frees it once drained */
    return NULL;
}

static void *reopener(void *arg)
{
    struct lw_writer *w = arg;
    for (int i = 0; i < 20; i++) {
        lw_reopen(w);
        usleep(2000);
    }
    return NULL;
}

/* Many threads, tiny buffers (writer falls behind, producers wait), flushes
 * and reopens meanwhile: every line arrives whole, in order per thread. */
static void writer__concurrent_threads__every_line_whole_in_order(void **state)
{
    struct fx *f = *state;
    struct lw_config c = wcfg(f->path, 1024, 2);
    c.flush_ns = 1000000;   /* 1 ms: the timer races the producers too */
    struct lw_writer *w;
    char err[256];
    assert_int_equal(lw_open(&w, &c, err, sizeof err), 0);
    pthread_t th[NTHREADS], ro;
    struct producer pr[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        pr[i] = (struct producer){w, i};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    assert_int_equal(pthread_create(&ro, NULL, reopener, w), 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    pthread_join(ro, NULL);
    lw_close(w);

    char *text = slurp(f->path);
    int next[NTHREADS] = {0};
    size_t lines = 0;
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) {
        *nl = '\0';
        int id, seq;
        char tail[64];
        if (sscanf(p, "t%d %d %63s", &id, &seq, tail) != 3 || id < 0 || id >= NTHREADS)
            fail_msg("malformed line %zu: '%s'", lines, p);
        if (seq != next[id])
            fail_msg("thread %d: line %d where %d was due", id, seq, next[id]);
        next[id]++;
        assert_string_equal(tail, seq % 1000 == 999 ? "long-line-padding-padding-padding-padding" : "x");
    }
    assert_int_equal(lines, NTHREADS * PER_THREAD);
    free(text);
}

/* Lines still buffered at the stop are written by the close. */
static void writer__close_with_pending__nothing_lost(void **state)
{
    struct fx *f = *state;
    struct lw_config c = wcfg(f->path, 65536, 8);
    c.flush_ns = 60 * 1000000000LL;   /* only the close can write these */
    struct lw_writer *w;
    char err[256];
    assert_int_equal(lw_open(&w, &c, err, sizeof err), 0);
    struct lw_tbuf *t = lw_thread(w);
    for (int i = 0; i < 1000; i++)
        lw_append(t, "line\n", 5);
    lw_close(w);
    char *text = slurp(f->path);
    assert_int_equal(count_char(text, '\n'), 1000);
    free(text);
}

/* stdout on a pipe or socket: writes of whole lines, at most PIPE_BUF
 * bytes each, so other processes' writes cannot split a line. A datagram
 * socketpair shows each write() as one message. */
static void writer__pipe__writes_cut_at_lines(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(sv[1], STDOUT_FILENO);
    close(sv[1]);
    struct lw_config c = wcfg(NULL, 65536, 8);
    c.sink = LW_STDOUT;
    struct lw_writer *w;
    char err[256];
    int rc = lw_open(&w, &c, err, sizeof err);
    if (rc == 0) {
        struct lw_tbuf *t = lw_thread(w);
        char line[300];
        memset(line, 'a', 299);
        line[299] = '\n';
        for (int i = 0; i < 40; i++)   /* 12000 bytes in one batch */
            lw_append(t, line, 300);
        lw_close(w);
    }
    dup2(saved, STDOUT_FILENO);
    close(saved);
    assert_int_equal(rc, 0);
    char buf[8192];
    size_t total = 0, writes = 0;
    ssize_t n;
    while ((n = recv(sv[0], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        total += (size_t)n;
        writes++;
        assert_true(n <= PIPE_BUF);
        assert_true(n % 300 == 0);
        assert_true(buf[n - 1] == '\n');
    }
    close(sv[0]);
    assert_int_equal(total, 12000);
    assert_int_equal(writes, 4);   /* 13 lines (3900 bytes) fit in PIPE_BUF: 13+13+13+1 */
}

int main(void)
{
    setenv("TZ", "ABC-05:30", 1);
    tzset();
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(combined__default_format__apache_line, setup, teardown),
        cmocka_unit_test_setup_teardown(common__format__no_referer_or_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(combined__absent_headers__dash_and_empty_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__request_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__urlpath_under_mount__full_path, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__response_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__times, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__durations_are_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(directives__pid_and_tid, setup, teardown),
        cmocka_unit_test_setup_teardown(user__empty__quoted_as_apache, setup, teardown),
        cmocka_unit_test_setup_teardown(status_condition__only_listed_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes__head__dash, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes__304__no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes__no_body__dash, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes__fd_body_handed_off__length_after_next, setup, teardown),
        cmocka_unit_test_setup_teardown(aborted__logged_with_x_and_no_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(compile__unknown_directive__config_error_names_it, setup, teardown),
        cmocka_unit_test_setup_teardown(compile__malformed__config_errors, setup, teardown),
        cmocka_unit_test(compile__literals_and_ops),
        cmocka_unit_test(escape__apache__quotes_backslashes_controls),
        cmocka_unit_test(escape__json__rfc8259),
        cmocka_unit_test_setup_teardown(hostile__combined__one_line_no_forgery, setup, teardown),
        cmocka_unit_test(json_validator__self_check),
        cmocka_unit_test(escape__every_length_and_position__matches_bytewise_model),
        cmocka_unit_test_setup_teardown(json__fields__valid_object, setup, teardown),
        cmocka_unit_test_setup_teardown(json__absent_values__null, setup, teardown),
        cmocka_unit_test_setup_teardown(json__hostile_values__still_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(file__created_0640_and_appended, setup, teardown),
        cmocka_unit_test_setup_teardown(file__cannot_open__config_error, setup, teardown),
        cmocka_unit_test_setup_teardown(file__stderr_name__is_not_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen__after_rename__new_file_gets_new_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(flush__interval__line_appears_without_event, setup, teardown),
        cmocka_unit_test_setup_teardown(buffer__small__many_and_long_lines_all_written, setup, teardown),
        cmocka_unit_test_setup_teardown(syslog__datagram_per_line__tag_and_facility, setup, teardown),
        cmocka_unit_test_setup_teardown(syslog__no_daemon__requests_flow_and_one_report, setup, teardown),
        cmocka_unit_test_setup_teardown(writer__unwritable__drops_counts_reports_once_a_second, setup, teardown),
        cmocka_unit_test_setup_teardown(writer__concurrent_threads__every_line_whole_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(writer__close_with_pending__nothing_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(writer__pipe__writes_cut_at_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
