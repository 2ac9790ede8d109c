/* test_gzip.c — the gzip filter against the SDK test kit; zlib inflates
 * what it produced to check the bytes round-trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

extern const struct strata_plugin strata_plugin;

/* ---- a programmable downstream ---- */

typedef struct answer {
    int status;
    const char *ctype;
    const char *body;
    size_t len;
    int fd;                    /* >= 0: an fd body instead of `body`   */
    const char *hdr[4][2];     /* extra response headers               */
} answer;

static int downstream(strata_request *req, void *ctx)
{
    const answer *a = ctx;
    const strata_host *h = stt_host();
    h->set_status(req, a->status);
    if (a->ctype)
        h->set_header(req, "Content-Type", a->ctype);
    if (a->fd >= 0)
        h->set_body_fd(req, dup(a->fd), 0, a->len);
    else if (a->body)
        h->set_body(req, a->body, a->len, STRATA_BODY_STATIC);
    for (int i = 0; i < 4 && a->hdr[i][0]; i++)
        h->add_header(req, a->hdr[i][0], a->hdr[i][1]);
    return STRATA_OK;
}

static char *text_body(size_t n)
{
    char *s = malloc(n + 1);
    const char *words = "the quick brown fox jumps over the lazy dog, strata says hello. ";
    size_t wl = strlen(words);
    for (size_t i = 0; i < n; i++)
        s[i] = words[i % wl];
    s[n] = '\0';
    return s;
}

static answer text_answer(const char *body)
{
    answer a = {200, "text/html; charset=utf-8", body, strlen(body), -1, {{NULL, NULL}}};
    return a;
}

static strata_request *run_with(stt_instance *inst, answer *a, const char *accept, int rc_want)
{
    strata_request *req = stt_request("GET", "/page.html");
    if (accept)
        stt_header(req, "Accept-Encoding", accept);
    stt_on_next(req, downstream, a);
    assert_int_equal(stt_run(inst, req), rc_want);
    return req;
}

/* Inflate the response body and compare it to `want`. */
static void assert_gzip_of(strata_request *req, const char *want, size_t want_len)
{
    size_t len = 0;
    const char *body = stt_body_out(req, &len);
    assert_non_null(body);
    assert_true(len > 18);
    assert_int_equal((unsigned char)body[0], 0x1f);   /* gzip magic */
    assert_int_equal((unsigned char)body[1], 0x8b);
    unsigned char *out = malloc(want_len + 16);
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)body;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)(want_len + 16);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, want_len);
    assert_memory_equal(out, want, want_len);
    inflateEnd(&zs);
    free(out);
    assert_string_equal(stt_header_out(req, "Content-Encoding"), "gzip");
    assert_int_equal(stt_host()->resp_length(req), (int64_t)len);
}

static void assert_identity(strata_request *req, const answer *a)
{
    size_t len = 0;
    const char *body = stt_body_out(req, &len);
    assert_null(stt_header_out(req, "Content-Encoding"));
    assert_int_equal(len, a->len);
    if (a->body)
        assert_memory_equal(body, a->body, len);
}

/* ---- tests ---- */

static void gzip__accepting_client__compressed_vary_weak_etag(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    assert_non_null(inst);
    char *text = text_body(5000);
    answer a = text_answer(text);
    a.hdr[0][0] = "ETag", a.hdr[0][1] = "\"5000-abc\"";
    a.hdr[1][0] = "Content-Length", a.hdr[1][1] = "5000";
    a.hdr[2][0] = "Vary", a.hdr[2][1] = "Origin";
    a.hdr[3][0] = "Accept-Ranges", a.hdr[3][1] = "bytes";
    strata_request *req = run_with(inst, &a, "gzip, deflate, br", STRATA_OK);
    assert_gzip_of(req, text, 5000);
    assert_string_equal(stt_header_out(req, "Vary"), "Origin, Accept-Encoding");
    assert_string_equal(stt_header_out(req, "ETag"), "W/\"5000-abc\"");
    assert_null(stt_header_out(req, "Accept-Ranges"));
    char cl[32];
    snprintf(cl, sizeof cl, "%lld", (long long)stt_host()->resp_length(req));
    assert_string_equal(stt_header_out(req, "Content-Length"), cl);
    stt_free(req);

    /* the per-thread stream is reset and reused for the next request */
    a.hdr[0][1] = "W/\"weak\"";
    req = run_with(inst, &a, "GZIP", STRATA_OK);
    assert_gzip_of(req, text, 5000);
    assert_string_equal(stt_header_out(req, "ETag"), "W/\"weak\"");
    stt_free(req);
    free(text);
    stt_destroy(inst);
}

static void gzip__accept_encoding_values__q_respected(void **state)
{
    static const struct {
        const char *ae;
        int gz;
    } cases[] = {
        {"gzip", 1},
        {"x-gzip", 1},
        {"deflate, gzip;q=0.5", 1},
        {"gzip;q=0", 0},
        {"gzip; q=0.000", 0},
        {"gzip ; Q = 0.001", 1},
        {"gzip;q=1.0", 1},
        {"gzip;q=2", 0},          /* malformed q: not a yes */
        {"gzip;q=0.5x", 0},
        {"*", 1},
        {"*;q=0", 0},
        {"*, gzip;q=0", 0},       /* named gzip wins over * */
        {"gzip;q=0, *", 0},
        {"br, identity", 0},
        {"gzipx, xgzip", 0},
        {"", 0},
        {",,, ;;", 0},
        {"identity;q=0, gzip;level=1", 1},
        {"deflate;q=0.9,gzip;q=0.1", 1},
    };
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    char *text = text_body(1000);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        answer a = text_answer(text);
        strata_request *req = run_with(inst, &a, cases[i].ae, STRATA_OK);
        const char *ce = stt_header_out(req, "Content-Encoding");
        if ((ce != NULL) != cases[i].gz)
            fail_msg("Accept-Encoding '%s': expected %s", cases[i].ae,
                     cases[i].gz ? "gzip" : "identity");
        assert_string_equal(stt_header_out(req, "Vary"), "Accept-Encoding");
        stt_free(req);
    }
    answer a = text_answer(text);
    strata_request *req = run_with(inst, &a, NULL, STRATA_OK);   /* no header */
    assert_identity(req, &a);
    assert_string_equal(stt_header_out(req, "Vary"), "Accept-Encoding");
    stt_free(req);
    free(text);
    stt_destroy(inst);
}

static void gzip__ineligible_responses__untouched_without_vary(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "min_length", "300", NULL);
    char *text = text_body(2000);
    answer cases[6];
    for (int i = 0; i < 6; i++)
        cases[i] = text_answer(text);
    cases[0].len = 299;                                   /* below min_length */
    cases[1].ctype = "image/png";                         /* not a text type  */
    cases[2].status = 404;                                /* not 200          */
    cases[3].status = 206;                                /* a range          */
    cases[4].hdr[0][0] = "Content-Encoding", cases[4].hdr[0][1] = "br";
    cases[5].hdr[0][0] = "Cache-Control", cases[5].hdr[0][1] = "public, No-Transform";
    for (int i = 0; i < 6; i++) {
        strata_request *req = run_with(inst, &cases[i], "gzip", STRATA_OK);
        if (i == 4)
            assert_string_equal(stt_header_out(req, "Content-Encoding"), "br");
        else
            assert_identity(req, &cases[i]);
        assert_null(stt_header_out(req, "Vary"));
        stt_free(req);
    }
    answer none = {200, "text/plain", NULL, 0, -1, {{NULL, NULL}}};   /* no body */
    strata_request *req = run_with(inst, &none, "gzip", STRATA_OK);
    assert_null(stt_header_out(req, "Content-Encoding"));
    stt_free(req);
    free(text);
    stt_destroy(inst);
}

static void gzip__range_request__not_compressed_but_vary(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    char *text = text_body(1000);
    answer a = text_answer(text);
    strata_request *req = stt_request("GET", "/a");
    stt_header(req, "Accept-Encoding", "gzip");
    stt_header(req, "Range", "bytes=0-10");
    stt_on_next(req, downstream, &a);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_identity(req, &a);
    assert_string_equal(stt_header_out(req, "Vary"), "Accept-Encoding");
    stt_free(req);
    free(text);
    stt_destroy(inst);
}

static void gzip__types_globs__match_media_type_only(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "types",
                                    "application/*+json, TEXT/CSS", NULL);
    assert_non_null(inst);
    char *text = text_body(1000);
    const char *yes[] = {"application/ld+json", "text/css; charset=utf-8", "Text/Css"};
    const char *no[] = {"application/json", "text/html", "text/cssx", ""};
    for (size_t i = 0; i < 3; i++) {
        answer a = text_answer(text);
        a.ctype = yes[i];
        strata_request *req = run_with(inst, &a, "gzip", STRATA_OK);
        assert_gzip_of(req, text, 1000);
        stt_free(req);
    }
    for (size_t i = 0; i < 4; i++) {
        answer a = text_answer(text);
        a.ctype = no[i];
        strata_request *req = run_with(inst, &a, "gzip", STRATA_OK);
        assert_identity(req, &a);
        stt_free(req);
    }
    free(text);
    stt_destroy(inst);
}

static void gzip__fd_body__read_and_compressed(void **state)
{
    char path[] = "/tmp/strata-gzip-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    size_t n = 300 * 1024;   /* several read chunks */
    char *text = text_body(n);
    assert_int_equal(write(fd, text, n), (ssize_t)n);

    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    answer a = {200, "application/javascript", NULL, n, fd, {{NULL, NULL}}};
    strata_request *req = run_with(inst, &a, "gzip", STRATA_OK);
    assert_false(stt_body_is_fd(req));
    assert_gzip_of(req, text, n);
    stt_free(req);

    /* above max_size: sent as it is, still an fd */
    stt_instance *capped = stt_create(&strata_plugin, NULL, "max_size", "100K", NULL);
    req = run_with(capped, &a, "gzip", STRATA_OK);
    assert_true(stt_body_is_fd(req));
    assert_null(stt_header_out(req, "Content-Encoding"));
    stt_free(req);
    stt_destroy(capped);
    stt_destroy(inst);
    free(text);
    close(fd);
}

static void gzip__large_body_on_io_thread__yields(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "inline_limit", "4K", NULL);
    char *big = text_body(5000), *small = text_body(4000);

    answer a = text_answer(big);
    strata_request *req = stt_request("GET", "/big");
    stt_header(req, "Accept-Encoding", "gzip");
    stt_may_block(req, 0);
    stt_on_next(req, downstream, &a);
    assert_int_equal(stt_run(inst, req), STRATA_YIELD);
    stt_free(req);

    req = run_with(inst, &a, "gzip", STRATA_OK);   /* on the pool: done */
    assert_gzip_of(req, big, 5000);
    stt_free(req);

    answer b = text_answer(small);                  /* small: done inline */
    req = stt_request("GET", "/small");
    stt_header(req, "Accept-Encoding", "gzip");
    stt_may_block(req, 0);
    stt_on_next(req, downstream, &b);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_gzip_of(req, small, 4000);
    stt_free(req);

    /* a client that does not accept gzip never costs a yield */
    req = stt_request("GET", "/big");
    stt_may_block(req, 0);
    stt_on_next(req, downstream, &a);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_identity(req, &a);
    stt_free(req);
    free(big);
    free(small);
    stt_destroy(inst);
}

static void gzip__incompressible__sent_as_is(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, "level", "1", NULL);
    size_t n = 4096;
    char *noise = malloc(n);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {   /* xorshift: no redundancy to squeeze */
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[i] = (char)x;
    }
    answer a = {200, "text/plain", noise, n, -1, {{NULL, NULL}}};
    strata_request *req = run_with(inst, &a, "gzip", STRATA_OK);
    assert_identity(req, &a);
    assert_string_equal(stt_header_out(req, "Vary"), "Accept-Encoding");
    stt_free(req);
    free(noise);
    stt_destroy(inst);
}

static int downstream_yield(strata_request *req, void *ctx) { return STRATA_YIELD; }

static void gzip__yield_from_next__returned_untouched(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    strata_request *req = stt_request("GET", "/");
    stt_on_next(req, downstream_yield, NULL);
    assert_int_equal(stt_run(inst, req), STRATA_YIELD);
    assert_null(stt_header_out(req, "Vary"));
    stt_free(req);
    stt_destroy(inst);
}

/* Several threads through one instance: each keeps its own deflate
 * stream (run under TSan by make test). */
typedef struct par_ctx {
    stt_instance *inst;
    const char *text;
    size_t len;
    int ok;
} par_ctx;

static void *par_worker(void *p)
{
    par_ctx *c = p;
    unsigned char *out = malloc(c->len + 16);
    for (int i = 0; i < 40; i++) {
        answer a = text_answer(c->text);
        strata_request *req = stt_request("GET", "/par");
        stt_header(req, "Accept-Encoding", "gzip");
        stt_on_next(req, downstream, &a);
        size_t len = 0;
        const char *body = NULL;
        if (stt_run(c->inst, req) == STRATA_OK && stt_header_out(req, "Content-Encoding"))
            body = stt_body_out(req, &len);
        uLongf got = (uLongf)(c->len + 16);
        z_stream zs = {0};
        if (body && inflateInit2(&zs, 15 + 16) == Z_OK) {
            zs.next_in = (Bytef *)body;
            zs.avail_in = (uInt)len;
            zs.next_out = out;
            zs.avail_out = (uInt)got;
            if (inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.total_out == c->len &&
                memcmp(out, c->text, c->len) == 0)
                c->ok++;
            inflateEnd(&zs);
        }
        stt_free(req);
    }
    free(out);
    return NULL;
}

static void gzip__parallel_threads__streams_not_shared(void **state)
{
    stt_instance *inst = stt_create(&strata_plugin, NULL, NULL);
    enum { NT = 4 };
    pthread_t th[NT];
    par_ctx ctx[NT];
    char *texts[NT];
    for (int i = 0; i < NT; i++) {
        texts[i] = text_body(3000 + 1000 * (size_t)i);   /* different bodies per thread */
        ctx[i] = (par_ctx){inst, texts[i], strlen(texts[i]), 0};
        pthread_create(&th[i], NULL, par_worker, &ctx[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].ok, 40);
        free(texts[i]);
    }
    stt_destroy(inst);
}

static void gzip__bad_options__config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, "level", "10", NULL));
    assert_string_equal(stt_last_error(), "[filter:gzip] level: expected a value in 1..9");
    assert_null(stt_create(&strata_plugin, NULL, "types", "html", NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:gzip] types: expected a media type like 'text/html', got 'html'");
    assert_null(stt_create(&strata_plugin, NULL, "min_length", "1M", "max_size", "1K", NULL));
    assert_string_equal(stt_last_error(),
                        "[filter:gzip] max_size: '1024' is below min_length '1048576'");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gzip__accepting_client__compressed_vary_weak_etag),
        cmocka_unit_test(gzip__accept_encoding_values__q_respected),
        cmocka_unit_test(gzip__ineligible_responses__untouched_without_vary),
        cmocka_unit_test(gzip__range_request__not_compressed_but_vary),
        cmocka_unit_test(gzip__types_globs__match_media_type_only),
        cmocka_unit_test(gzip__fd_body__read_and_compressed),
        cmocka_unit_test(gzip__large_body_on_io_thread__yields),
        cmocka_unit_test(gzip__incompressible__sent_as_is),
        cmocka_unit_test(gzip__yield_from_next__returned_untouched),
        cmocka_unit_test(gzip__parallel_threads__streams_not_shared),
        cmocka_unit_test(gzip__bad_options__config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
