/* http.c — see http.h. Every parser here reads client input: it never
 * reads past the NUL, never overflows an integer (values saturate), and
 * treats anything it does not understand as absent, which is what RFC
 * 9110 asks for Range and the conditional fields. */
#include "http.h"
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ST_NAME_MAX 255

/* ---- request paths ---------------------------------------------------- */

static int dotname_allowed(const st_hidden *h, const char *seg, size_t len)
{
    if (!h)
        return 0;
    if (h->allow_all)
        return 1;
    for (size_t i = 0; i < h->n; i++)
        if (strlen(h->names[i]) == len && memcmp(h->names[i], seg, len) == 0)
            return 1;
    return 0;
}

int st_path_normalize(const char *in, char *out, size_t outsz, int *is_dir,
                      const st_hidden *hidden)
{
    size_t o = 0;      /* bytes in out */
    int dir = 0;
    if (outsz == 0)
        return ST_PATH_LONG;
    for (const char *p = in;;) {
        while (*p == '/')
            p++;
        if (!*p) {
            /* "" stays a file request (the mount root without '/'), any
             * path that ended on '/' names a directory */
            dir = p > in && p[-1] == '/' ? 1 : dir;
            break;
        }
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        dir = 0;
        if (len == 1 && seg[0] == '.') {
            dir = 1;
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (o == 0)
                return ST_PATH_CLIMB;
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;               /* the separator before it */
            dir = 1;
            continue;
        }
        if (seg[0] == '.' && !dotname_allowed(hidden, seg, len))
            return ST_PATH_HIDDEN;
        if (len > ST_NAME_MAX)
            return ST_PATH_LONG;
        if (o + (o > 0) + len + 1 > outsz)
            return ST_PATH_LONG;
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    out[o] = '\0';
    if (is_dir)
        *is_dir = dir;
    return ST_PATH_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int st_uri_has_forbidden_escape(const char *uri)
{
    for (const char *p = uri; p && *p && *p != '?' && *p != '#'; p++) {
        if (*p != '%')
            continue;
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0)
            continue;
        int c = hi * 16 + lo;
        if (c == 0 || c == '/')
            return 1;
    }
    return 0;
}

/* ---- small scanners ---------------------------------------------------- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Decimal digits into a saturating uint64. Returns the end; *ok = digits seen. */
static const char *parse_u64(const char *p, uint64_t *v, int *ok)
{
    uint64_t x = 0;
    const char *s = p;
    while (*p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        p++;
    }
    *v = x;
    *ok = p > s;
    return p;
}

/* ---- Range ---------------------------------------------------------------- */

int st_range_parse(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h)
        return ST_RANGE_NONE;
    const char *p = skip_ows(h);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return ST_RANGE_NONE;
    p += 6;
    int n = 0, sat = 0;
    uint64_t first = 0, last = 0;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') {          /* empty list elements are allowed */
            p++;
            continue;
        }
        if (!*p)
            break;
        uint64_t a = 0, b = 0;
        int ok_a, ok_b;
        if (*p == '-') {           /* suffix: the last b bytes */
            p = parse_u64(p + 1, &b, &ok_b);
            if (!ok_b)
                return ST_RANGE_NONE;
            if (b > 0 && size > 0) {
                first = b >= size ? 0 : size - b;
                last = size - 1;
                sat = 1;
            } else {
                sat = 0;
            }
        } else {
            p = parse_u64(p, &a, &ok_a);
            if (!ok_a || *p != '-')
                return ST_RANGE_NONE;
            p = parse_u64(p + 1, &b, &ok_b);
            if (ok_b && b < a)     /* invalid range-spec: ignore the field */
                return ST_RANGE_NONE;
            if (a < size) {
                first = a;
                last = ok_b && b < size - 1 ? b : size - 1;
                sat = 1;
            } else {
                sat = 0;
            }
        }
        n++;
        p = skip_ows(p);
        if (*p && *p != ',')
            return ST_RANGE_NONE;
    }
    if (n == 0)
        return ST_RANGE_NONE;
    if (n > 1)
        return ST_RANGE_MULTI;
    if (!sat)
        return ST_RANGE_UNSAT;
    *off = first;
    *len = last - first + 1;
    return ST_RANGE_ONE;
}

/* ---- entity tags ------------------------------------------------------------ */

/* One entity-tag at p: sets its opaque part [*tag, *tag+*taglen) with the
 * quotes, and *weak. Returns the end, or NULL when malformed. */
static const char *parse_etag(const char *p, const char **tag, size_t *taglen, int *weak)
{
    *weak = 0;
    if (p[0] == 'W' && p[1] == '/') {
        *weak = 1;
        p += 2;
    }
    if (*p != '"')
        return NULL;
    const char *s = p++;
    while (*p && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 && c != '\t')   /* etagc: %x21 / %x23-7E / obs-text */
            return NULL;
        p++;
    }
    if (*p != '"')
        return NULL;
    p++;
    *tag = s;
    *taglen = (size_t)(p - s);
    return p;
}

int st_etag_list_match(const char *list, const char *etag, int strong)
{
    if (!list || !etag)
        return 0;
    const char *p = skip_ows(list);
    if (*p == '*') {
        p = skip_ows(p + 1);
        if (!*p)
            return 1;
    }
    int our_weak = etag[0] == 'W';
    const char *ours = our_weak ? etag + 2 : etag;
    size_t ourlen = strlen(ours);
    p = skip_ows(list);
    while (*p) {
        if (*p == ',') {
            p = skip_ows(p + 1);
            continue;
        }
        const char *tag;
        size_t taglen;
        int weak;
        const char *e = parse_etag(p, &tag, &taglen, &weak);
        if (!e) {                  /* skip a malformed member */
            while (*p && *p != ',')
                p++;
            continue;
        }
        if (taglen == ourlen && memcmp(tag, ours, ourlen) == 0 &&
            (!strong || (!weak && !our_weak)))
            return 1;
        p = skip_ows(e);
        if (*p && *p != ',') {
            while (*p && *p != ',')
                p++;
        }
    }
    return 0;
}

/* ---- dates ---------------------------------------------------------------- */

static const char wkday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int parse_month(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(p, month[i], 3) == 0)
            return i + 1;
    return 0;
}

/* n digits exactly */
static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int parse_hms(const char *p, int *h, int *mi, int *s)
{
    return digits(p, 2, h) && p[2] == ':' && digits(p + 3, 2, mi) && p[5] == ':' &&
           digits(p + 6, 2, s) && *h < 24 && *mi < 60 && *s <= 60;
}

static int64_t make_time(int y, int mon, int d, int h, int mi, int s)
{
    static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || mon > 12 || d < 1 || d > mdays[mon - 1])
        return -1;
    if (mon == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    int64_t t = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
    return t < 0 ? -1 : t;   /* before 1970: treated as invalid */
}

int64_t st_http_date_parse(const char *s)
{
    if (!s)
        return -1;
    const char *p = skip_ows(s);
    int y, mon, d, h, mi, sec;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (n == 29 && p[3] == ',' && p[4] == ' ' && digits(p + 5, 2, &d) && p[7] == ' ' &&
        (mon = parse_month(p + 8)) && p[11] == ' ' && digits(p + 12, 4, &y) && p[16] == ' ' &&
        parse_hms(p + 17, &h, &mi, &sec) && memcmp(p + 25, " GMT", 4) == 0)
        return make_time(y, mon, d, h, mi, sec);
    /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (n == 24 && p[3] == ' ' && (mon = parse_month(p + 4)) && p[7] == ' ' &&
        (p[8] == ' ' ? digits(p + 9, 1, &d) : digits(p + 8, 2, &d)) && p[10] == ' ' &&
        parse_hms(p + 11, &h, &mi, &sec) && p[19] == ' ' && digits(p + 20, 4, &y))
        return make_time(y, mon, d, h, mi, sec);
    /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    const char *c = memchr(p, ',', n < 10 ? n : 10);
    if (c && (size_t)(c - p) >= 6 && (size_t)(p + n - c) == 24 && c[1] == ' ' &&
        digits(c + 2, 2, &d) && c[4] == '-' && (mon = parse_month(c + 5)) && c[8] == '-' &&
        digits(c + 9, 2, &y) && c[11] == ' ' && parse_hms(c + 12, &h, &mi, &sec) &&
        memcmp(c + 20, " GMT", 4) == 0)
        return make_time(y < 70 ? 2000 + y : 1900 + y, mon, d, h, mi, sec);
    return -1;
}

void st_http_date_format(int64_t t, char *buf)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memcpy(buf, "Thu, 01 Jan 1970 00:00:00 GMT", 30);
        return;
    }
    /* no strftime: %a and %b follow the locale */
    static const char dig[] = "0123456789";
    char *o = buf;
    memcpy(o, wkday[tm.tm_wday], 3), o += 3;
    *o++ = ',', *o++ = ' ';
    *o++ = dig[tm.tm_mday / 10], *o++ = dig[tm.tm_mday % 10], *o++ = ' ';
    memcpy(o, month[tm.tm_mon], 3), o += 3;
    *o++ = ' ';
    int y = tm.tm_year + 1900;
    *o++ = dig[y / 1000], *o++ = dig[y / 100 % 10], *o++ = dig[y / 10 % 10], *o++ = dig[y % 10];
    *o++ = ' ';
    *o++ = dig[tm.tm_hour / 10], *o++ = dig[tm.tm_hour % 10], *o++ = ':';
    *o++ = dig[tm.tm_min / 10], *o++ = dig[tm.tm_min % 10], *o++ = ':';
    *o++ = dig[tm.tm_sec / 10], *o++ = dig[tm.tm_sec % 10];
    memcpy(o, " GMT", 5);
}

/* ---- conditionals ---------------------------------------------------------- */

void st_evaluate(const st_cond *c, const st_validators *r, st_answer *a)
{
    a->status = 200;
    a->off = 0;
    a->len = r->size;
    /* 1-2: preconditions that fail with 412 */
    if (c->if_match) {
        if (!st_etag_list_match(c->if_match, r->etag, 1)) {
            a->status = 412;
            return;
        }
    } else if (c->if_unmodified_since) {
        int64_t t = st_http_date_parse(c->if_unmodified_since);
        if (t >= 0 && r->mtime > t) {
            a->status = 412;
            return;
        }
    }
    /* 3-4: If-None-Match wins over If-Modified-Since */
    if (c->if_none_match) {
        if (st_etag_list_match(c->if_none_match, r->etag, 0)) {
            a->status = 304;
            return;
        }
    } else if (c->if_modified_since) {
        int64_t t = st_http_date_parse(c->if_modified_since);
        if (t >= 0 && r->mtime <= t) {
            a->status = 304;
            return;
        }
    }
    /* 5: Range, unless If-Range says the client's copy is another one */
    if (!c->range || !c->is_get)
        return;
    if (c->if_range) {
        const char *v = skip_ows(c->if_range);
        int ok;
        if (*v == '"' || (v[0] == 'W' && v[1] == '/')) {
            const char *tag;
            size_t taglen;
            int weak;
            const char *e = parse_etag(v, &tag, &taglen, &weak);
            ok = e && !weak && *skip_ows(e) == '\0' && r->etag[0] == '"' &&
                 strlen(r->etag) == taglen && memcmp(tag, r->etag, taglen) == 0;
        } else {
            int64_t t = st_http_date_parse(v);
            ok = t >= 0 && t == r->mtime;
        }
        if (!ok)
            return;
    }
    uint64_t off = 0, len = 0;
    switch (st_range_parse(c->range, r->size, &off, &len)) {
    case ST_RANGE_ONE:
        a->status = 206;
        a->off = off;
        a->len = len;
        break;
    case ST_RANGE_UNSAT:
        a->status = 416;
        a->len = 0;
        break;
    default:
        break;
    }
}

/* ---- Accept-Encoding ------------------------------------------------------ */

/* q-value at p ("q=0.5"); 1000 when absent. */
static int parse_q(const char *p, const char *end)
{
    int q = 1000;
    while (p < end) {
        p = skip_ows(p);
        if (p < end && *p == ';') {
            p = skip_ows(p + 1);
            if (p + 1 < end && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                p += 2;
                if (p < end && (*p == '0' || *p == '1')) {
                    q = (*p - '0') * 1000;
                    p++;
                    if (p < end && *p == '.') {
                        p++;
                        int scale = 100;
                        while (p < end && *p >= '0' && *p <= '9') {
                            if (scale)
                                q += (*p - '0') * scale;
                            scale /= 10;
                            p++;
                        }
                    }
                    if (q > 1000)
                        q = 1000;
                } else {
                    q = 0;        /* malformed qvalue: not acceptable */
                }
            }
        }
        while (p < end && *p != ';')
            p++;
    }
    return q;
}

int st_accepts_encoding(const char *ae, const char *coding)
{
    if (!ae)
        return 0;
    size_t clen = strlen(coding);
    int q_named = -1, q_star = -1;
    const char *p = ae;
    while (*p) {
        p = skip_ows(p);
        const char *s = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tlen = (size_t)(p - s);
        const char *end = p;
        while (*end && *end != ',')
            end++;
        int q = parse_q(p, end);
        if (tlen == clen && strncasecmp(s, coding, clen) == 0)
            q_named = q;
        else if (tlen == 6 && clen == 4 && strncasecmp(s, "x-gzip", 6) == 0 &&
                 strcmp(coding, "gzip") == 0)
            q_named = q;
        else if (tlen == 1 && *s == '*')
            q_star = q;
        p = *end ? end + 1 : end;
    }
    if (q_named >= 0)
        return q_named > 0;
    return q_star > 0;
}

/* ---- escaping -------------------------------------------------------------- */

size_t st_url_encode(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 <= outsz; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (outsz)
        out[o < outsz ? o : outsz - 1] = '\0';
    return o;
}

size_t st_html_escape(const char *in, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        const char *rep;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: rep = NULL; break;
        }
        size_t n = rep ? strlen(rep) : 1;
        if (o + n + 1 > outsz)
            break;
        if (rep)
            memcpy(out + o, rep, n);
        else
            out[o] = *p;
        o += n;
    }
    if (outsz)
        out[o] = '\0';
    return o;
}
