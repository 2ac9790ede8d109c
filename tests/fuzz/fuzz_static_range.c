/* fuzz_static_range.c — the static plugin's parsers of the Range and
 * conditional fields: st_range_parse, st_evaluate (with If-Match,
 * If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range),
 * st_http_date_parse, the entity-tag lists and Accept-Encoding. Checks
 * their promises: a range is always inside the file, a status is one of
 * the five an answer can have, a parsed date formats back to itself. */
#include "../../plugins/static/http.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "CHECK failed: %s\n", #c); abort(); } } while (0)

static void check_range(const char *h, uint64_t size)
{
    uint64_t off = 0, len = 0;
    int k = st_range_parse(h, size, &off, &len);
    CHECK(k >= ST_RANGE_NONE && k <= ST_RANGE_MULTI);
    if (k == ST_RANGE_ONE) {
        CHECK(size > 0);
        CHECK(off < size);
        CHECK(len >= 1 && len <= size - off);
    }
    uint64_t off2 = 0, len2 = 0;
    CHECK(st_range_parse(h, size, &off2, &len2) == k);   /* no hidden state */
    if (k == ST_RANGE_ONE)
        CHECK(off2 == off && len2 == len);
}

static void check_date(const char *s)
{
    int64_t t = st_http_date_parse(s);
    CHECK(t >= -1);
    if (t >= 0) {
        char buf[32];
        st_http_date_format(t, buf);
        int64_t back = st_http_date_parse(buf);
        /* leap second 60 reads as the next minute's 00 */
        CHECK(back == t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > 8192)
        return 0;
    uint64_t fsize;
    memcpy(&fsize, data, 8);
    switch (data[0] & 3) {   /* small sizes matter most: edges at 0 and 1 */
    case 0: fsize %= 4; break;
    case 1: fsize %= 1000; break;
    default: break;
    }
    char *s = malloc(size - 8 + 1);
    memcpy(s, data + 8, size - 8);
    s[size - 8] = '\0';
    check_range(s, fsize);
    check_date(s);
    (void)st_etag_list_match(s, "\"abc-1\"", 0);
    (void)st_etag_list_match(s, "\"abc-1\"", 1);
    (void)st_accepts_encoding(s, "gzip");
    (void)st_accepts_encoding(s, "br");

    /* fields split on '\n': If-Match, If-None-Match, IMS, IUS, Range, If-Range */
    const char *f[6] = {0};
    char *p = s;
    for (int i = 0; i < 6 && p; i++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        f[i] = *p == '~' ? NULL : p;   /* '~' leaves the field out */
        p = nl ? nl + 1 : NULL;
    }
    st_cond c = {f[0], f[1], f[2], f[3], f[4], f[5], data[1] & 1};
    st_validators v = {"\"abc-1\"", (int64_t)(fsize % 4000000000u), fsize};
    st_answer a;
    st_evaluate(&c, &v, &a);
    CHECK(a.status == 200 || a.status == 206 || a.status == 304 || a.status == 412 ||
          a.status == 416);
    if (a.status == 200)
        CHECK(a.off == 0 && a.len == fsize);
    if (a.status == 206)
        CHECK(c.is_get && a.off < fsize && a.len >= 1 && a.len <= fsize - a.off);
    free(s);
    return 0;
}
