/* fuzz_logging.c — the access log's escapers and format compiler.
 *
 * Client bytes reach the log through lf_escape_apache (text formats) and
 * lf_escape_json; whatever comes in, the first must give printable ASCII
 * with every '"' escaped, the second a valid JSON string body in valid
 * UTF-8. The same bytes are also compiled as a format string and, when it
 * compiles, rendered against a request carrying them as header values. */
#include "../../plugins/logging/format.c"
#include "strata-test.h"
#include <assert.h>

static int utf8_ok(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        unsigned char pad[5] = {0};
        memcpy(pad, p + i, n - i < 4 ? n - i : 4);
        size_t k = utf8_len(pad);
        if (!k || i + k > n)
            return 0;
        i += k;
    }
    return 1;
}

static void check_apache(const struct lbuf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];
        assert(c >= 0x20 && c < 0x7f);
        if (c == '\\') {
            assert(i + 1 < b->len);
            char e = b->p[++i];
            assert(strchr("\"\\bnrtvx", e) && e);
            if (e == 'x')
                i += 2;
        } else {
            assert(c != '"');
        }
    }
}

static void check_json(const struct lbuf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];
        assert(c >= 0x20);
        assert(c != '"');
        if (c == '\\') {
            assert(i + 1 < b->len);
            char e = b->p[++i];
            assert(strchr("\"\\/bfnrtu", e) && e);
            if (e == 'u')
                i += 4;
        }
    }
    assert(utf8_ok((const unsigned char *)b->p, b->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    struct lbuf b = {0};
    lf_escape_apache(&b, s);
    check_apache(&b);
    b.len = 0;
    lf_escape_json(&b, s);
    check_json(&b);

    struct lf_format f;
    char err[256];
    if (lf_compile(s, &f, err, sizeof err) == 0) {
        const strata_host *h = stt_host();   /* fills the kit's table */
        strata_request *req = stt_request("GET", "/x?y=1");
        stt_header(req, "User-Agent", s);
        stt_header(req, "Referer", s);
        stt_var(req, STRATA_VAR_USER, s);
        struct lf_clock c1, c2;
        lf_clock_init(&c1);
        lf_clock_init(&c2);
        struct lf_ctx ctx = {.h = h, .req = req, .sent_ok = 1, .clock = &c1,
                             .clock_end = &c2};
        b.len = 0;
        lf_render(&f, &ctx, &b);
        assert(b.len > 0 && b.p[b.len - 1] == '\n');
        stt_free(req);
        lf_free(&f);
    } else {
        assert(err[0]);
    }
    lbuf_free(&b);
    free(s);
    return 0;
}
