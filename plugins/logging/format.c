/* format.c — compile mod_log_config strings, render lines, escape values. */
#include "format.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum lf_kind {
    K_LIT = 1,
    K_CLIENT,      /* %h %a        */
    K_IDENT,       /* %l           */
    K_USER,        /* %u           */
    K_TIME,        /* %t           */
    K_TIME_FMT,    /* %{strftime}t */
    K_TIME_SEC,    /* %{sec}t      */
    K_TIME_MSEC,
    K_TIME_USEC,
    K_TIME_MSEC_FRAC,
    K_TIME_USEC_FRAC,
    K_REQLINE,     /* %r           */
    K_METHOD,      /* %m           */
    K_URLPATH,     /* %U           */
    K_QUERY,       /* %q           */
    K_PROTO,       /* %H           */
    K_STATUS,      /* %s %>s       */
    K_BYTES_CLF,   /* %b           */
    K_BYTES,       /* %B           */
    K_DUR_US,      /* %D           */
    K_DUR_S,       /* %T, %{s}T    */
    K_DUR_MS,      /* %{ms}T       */
    K_REQ_HDR,     /* %{NAME}i     */
    K_RESP_HDR,    /* %{NAME}o     */
    K_VAR,         /* %{NAME}e     */
    K_HOST,        /* %v %V        */
    K_PID,         /* %P %{pid}P   */
    K_TID,         /* %{tid}P      */
    K_CONN,        /* %X           */
    K_JSON,        /* format = json */
};

#define FMT_COMBINED "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""
#define FMT_COMMON "%h %l %u %t \"%r\" %>s %b"

/* ---- buffer ----
 *
 * Rendering works on a cursor: each directive asks once for room for its
 * worst case (room()), writes without further checks, and commits the new
 * length. A line costs one capacity check per directive, not one per byte
 * run, and short pieces are copied with fixed-size moves. */

static int lbuf_grow_slow(struct lbuf *b, size_t need);

/* Room for n more bytes: where they go, or NULL when out of memory (the
 * line is then dropped whole, never written cut). */
static inline char *room(struct lbuf *b, size_t n)
{
    if (__builtin_expect(!b->oom && b->len + n <= b->cap, 1))
        return b->p + b->len;
    return lbuf_grow_slow(b, n) ? NULL : b->p + b->len;
}

static inline void commit(struct lbuf *b, char *o) { b->len = (size_t)(o - b->p); }

__attribute__((noinline)) static int lbuf_grow_slow(struct lbuf *b, size_t need)
{
    if (b->oom)
        return -1;
    if (b->len + need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + need)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

void lbuf_free(struct lbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void lbuf_put(struct lbuf *b, const void *s, size_t n)
{
    char *o = room(b, n);
    if (o && n) {
        memcpy(o, s, n);
        commit(b, o + n);
    }
}

void lbuf_puts(struct lbuf *b, const char *s) { lbuf_put(b, s, strlen(s)); }

void lbuf_putc(struct lbuf *b, char c)
{
    char *o = room(b, 1);
    if (o) {
        *o = c;
        commit(b, o + 1);
    }
}

/* Decimal digits of v at o (room for 20); returns the end. */
static char *put_u64_at(char *o, uint64_t v)
{
    int n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *e = o + n;
    do
        *--e = (char)('0' + v % 10);
    while (v /= 10);
    return o + n;
}

/* Room for 21: a sign and 20 digits. */
static char *put_i64_at(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return put_u64_at(o, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64_at(o, (uint64_t)v);
}

void lbuf_put_i64(struct lbuf *b, int64_t v)
{
    char *o = room(b, 21);
    if (o)
        commit(b, put_i64_at(o, v));
}

/* n digits, zero padded (fractions of a second). */
static void put_padded(struct lbuf *b, int64_t v, int n)
{
    char tmp[12];
    for (int i = n - 1; i >= 0; i--, v /= 10)
        tmp[i] = (char)('0' + v % 10);
    lbuf_put(b, tmp, (size_t)n);
}

/* ---- escaping ---- */

static const char hexd[] = "0123456789abcdef";

/* 1 for the bytes both escapers treat specially: controls, '"', '\\',
 * DEL and everything above ASCII. */
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
static const unsigned char special[256] = {
    R16(1), R16(1),
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 0x20: '"' */
    R16(0), R16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,   /* 0x50: '\\' */
    R16(0),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,   /* 0x70: DEL */
    R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1),
};
#undef R16

/* Copies the leading run of ordinary bytes of p[0..n) to o, 16 at a time
 * where SSE2 is there (every x86-64); returns how many it copied. Most
 * values (addresses, request lines, user agents) are one such run. */
static inline size_t copy_plain(char *o, const unsigned char *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f),
                  dq = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        /* signed compare: below 0x20 and 0x80..0xff alike */
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, sp), _mm_cmpeq_epi8(v, del)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, dq), _mm_cmpeq_epi8(v, bs)));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            memcpy(o + i, p + i, 16);   /* room was reserved for 4n >= i + 16 */
            return i + k;
        }
        _mm_storeu_si128((__m128i *)(o + i), v);
    }
#endif
    for (; i < n && !special[p[i]]; i++)
        o[i] = (char)p[i];
    return i;
}

/* Apache's ap_escape_logitem: anything not printable ASCII, '"' and '\\'.
 * Writes at most 4n bytes at o; returns the end. */
static char *esc_apache_at(char *o, const unsigned char *p, size_t n)
{
    const unsigned char *e = p + n;
    for (;;) {
        size_t k = copy_plain(o, p, (size_t)(e - p));
        o += k;
        p += k;
        if (p == e)
            return o;
        *o++ = '\\';
        switch (*p) {
        case '\b': *o++ = 'b'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\v': *o++ = 'v'; break;
        case '\\': *o++ = '\\'; break;
        case '"': *o++ = '"'; break;
        default:
            *o++ = 'x';
            *o++ = hexd[*p >> 4];
            *o++ = hexd[*p & 15];
        }
        p++;
    }
}


/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80
                   ? 4 : 0;
    }
    return 0;
}

/* RFC 8259 string body. Well-formed UTF-8 passes through; a byte that is
 * not part of one is written as the code point of the same value
 * (\u00XX, as Latin-1), so the output is always valid JSON and UTF-8.
 * Writes at most 6n bytes at o; returns the end. */
static char *esc_json_at(char *o, const unsigned char *p, size_t n)
{
    const unsigned char *e = p + n;
    for (;;) {
        size_t k = copy_plain(o, p, (size_t)(e - p));
        o += k;
        p += k;
        if (p == e)
            return o;
        if (*p >= 0x80) {
            size_t u = utf8_len(p);   /* stops at the NUL: p[1..3] stay in bounds */
            if (u) {
                memcpy(o, p, u);
                o += u;
                p += u;
                continue;
            }
        }
        *o++ = '\\';
        switch (*p) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hexd[*p >> 4];
            o[4] = hexd[*p & 15];
            o += 5;
        }
        p++;
    }
}

/* s escaped by esc, which writes at most `grow` bytes per input byte. */
static void put_escaped(struct lbuf *b, const char *s, size_t grow,
                        char *(*esc)(char *, const unsigned char *, size_t))
{
    size_t n = strlen(s);
    char *o = room(b, grow * n + 16);
    if (o)
        commit(b, esc(o, (const unsigned char *)s, n));
}

void lf_escape_apache(struct lbuf *b, const char *s) { put_escaped(b, s, 4, esc_apache_at); }
void lf_escape_json(struct lbuf *b, const char *s) { put_escaped(b, s, 6, esc_json_at); }

/* ---- compiler ---- */

static int add_op(struct lf_format *f, size_t *cap, struct lf_op op)
{
    if (f->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct lf_op *np = realloc(f->ops, nc * sizeof *np);
        if (!np)
            return -1;
        f->ops = np;
        *cap = nc;
    }
    f->ops[f->n++] = op;
    return 0;
}

static int arg_is(const struct lf_op *op, const char *s)
{
    return op->arg && op->arglen == strlen(s) && strncasecmp(op->arg, s, op->arglen) == 0;
}

/* Directive letter (+ argument) to kind; 0 when unknown. */
static int directive_kind(char c, struct lf_op *op, char *err, size_t errlen)
{
    switch (c) {
    case 'h': case 'a':
        return op->arg && !arg_is(op, "c") ? 0 : K_CLIENT;
    case 'l': return K_IDENT;
    case 'u': return K_USER;
    case 't':
        if (!op->arg)
            return K_TIME;
        if (op->arglen >= 6 && strncmp(op->arg, "begin:", 6) == 0) {
            op->arg += 6;
            op->arglen -= 6;
        } else if (op->arglen >= 4 && strncmp(op->arg, "end:", 4) == 0) {
            op->arg += 4;
            op->arglen -= 4;
            op->end = 1;
        }
        if (arg_is(op, "sec")) return K_TIME_SEC;
        if (arg_is(op, "msec")) return K_TIME_MSEC;
        if (arg_is(op, "usec")) return K_TIME_USEC;
        if (arg_is(op, "msec_frac")) return K_TIME_MSEC_FRAC;
        if (arg_is(op, "usec_frac")) return K_TIME_USEC_FRAC;
        return op->arglen ? K_TIME_FMT : K_TIME;
    case 'r': return K_REQLINE;
    case 'm': return K_METHOD;
    case 'U': return K_URLPATH;
    case 'q': return K_QUERY;
    case 'H': return K_PROTO;
    case 's': return K_STATUS;
    case 'b': return K_BYTES_CLF;
    case 'B': return K_BYTES;
    case 'D': return K_DUR_US;
    case 'T':
        if (!op->arg || arg_is(op, "s"))
            return K_DUR_S;
        if (arg_is(op, "ms"))
            return K_DUR_MS;
        if (arg_is(op, "us"))
            return K_DUR_US;
        snprintf(err, errlen, "'%%{%.*s}T': expected s, ms or us", (int)op->arglen, op->arg);
        return -1;
    case 'i': case 'o': case 'e':
        if (!op->arg || !op->arglen) {
            snprintf(err, errlen, "'%%%c' needs a name, as in '%%{NAME}%c'", c, c);
            return -1;
        }
        return c == 'i' ? K_REQ_HDR : c == 'o' ? K_RESP_HDR : K_VAR;
    case 'v': case 'V': return K_HOST;
    case 'P':
        if (!op->arg || arg_is(op, "pid"))
            return K_PID;
        if (arg_is(op, "tid"))
            return K_TID;
        snprintf(err, errlen, "'%%{%.*s}P': expected pid or tid", (int)op->arglen, op->arg);
        return -1;
    case 'X': return K_CONN;
    default: return 0;
    }
}

static int compile_string(const char *spec, struct lf_format *f, char *err, size_t errlen)
{
    size_t cap = 0;
    const char *p = spec;
    while (*p) {
        struct lf_op op = {0};
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            op.kind = K_LIT;
            op.arg = p;
            op.arglen = n;
            if (n <= sizeof op.lit)
                memcpy(op.lit, p, n);
            if (add_op(f, &cap, op))
                goto oom;
            p += n;
            continue;
        }
        const char *start = p++;
        if (*p == '%') {
            op.kind = K_LIT;
            op.arg = p++;
            op.arglen = 1;
            op.lit[0] = '%';
            if (add_op(f, &cap, op))
                goto oom;
            continue;
        }
        /* modifiers: < > ! 200,304 {arg}, in any order */
        for (;;) {
            if (*p == '<' || *p == '>') {
                p++;
            } else if (*p == '!') {
                op.negate = 1;
                p++;
            } else if (*p >= '1' && *p <= '9') {
                int v = 0, digits = 0;
                while (*p >= '0' && *p <= '9' && digits < 4)
                    v = v * 10 + (*p++ - '0'), digits++;
                if (digits != 3) {
                    snprintf(err, errlen, "'%.*s': a status condition takes 3-digit codes",
                             (int)(p - start), start);
                    return -1;
                }
                if (op.n_status == (int)(sizeof op.status / sizeof op.status[0])) {
                    snprintf(err, errlen, "'%.*s': at most 8 status codes",
                             (int)(p - start), start);
                    return -1;
                }
                op.status[op.n_status++] = (short)v;
                if (*p == ',')
                    p++;
            } else if (*p == '{') {
                const char *close = strchr(p + 1, '}');
                if (!close) {
                    snprintf(err, errlen, "unterminated '%%{' in '%s'", start);
                    return -1;
                }
                op.arg = p + 1;
                op.arglen = (size_t)(close - p - 1);
                p = close + 1;
            } else {
                break;
            }
        }
        if (!*p) {
            snprintf(err, errlen, "'%s' at the end of the format lacks a directive", start);
            return -1;
        }
        if (op.negate && !op.n_status) {
            snprintf(err, errlen, "'%.*s': '!' needs status codes, as in '%%!200,304{Referer}i'",
                     (int)(p + 1 - start), start);
            return -1;
        }
        int kind = directive_kind(*p, &op, err, errlen);
        if (kind < 0)
            return -1;
        if (kind == 0) {
            unsigned char c = (unsigned char)*p;
            if (c >= 0x20 && c < 0x7f)
                snprintf(err, errlen, "unknown directive '%.*s'", (int)(p + 1 - start), start);
            else
                snprintf(err, errlen, "unknown directive '%.*s\\x%02x'", (int)(p - start), start,
                         c);
            return -1;
        }
        op.kind = kind;
        p++;
        if (add_op(f, &cap, op))
            goto oom;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int lf_compile(const char *spec, struct lf_format *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!spec || strcasecmp(spec, "combined") == 0)
        spec = FMT_COMBINED;
    else if (strcasecmp(spec, "common") == 0)
        spec = FMT_COMMON;
    else if (strcasecmp(spec, "json") == 0)
        spec = NULL;
    if (!spec) {
        out->ops = calloc(1, sizeof *out->ops);
        if (!out->ops)
            return snprintf(err, errlen, "out of memory"), -1;
        out->ops[0].kind = K_JSON;
        out->n = 1;
        return 0;
    }
    if (!*spec)
        return snprintf(err, errlen, "the format is empty"), -1;
    /* args point into our own copy of the text */
    out->text = strdup(spec);
    if (!out->text)
        return snprintf(err, errlen, "out of memory"), -1;
    if (compile_string(out->text, out, err, errlen)) {
        lf_free(out);
        return -1;
    }
    /* Every %{ARG} is followed by its '}' in our copy: end it there, so
     * header and variable names are C strings with no copy per request. */
    for (size_t i = 0; i < out->n; i++)
        if (out->ops[i].kind != K_LIT && out->ops[i].arg)
            ((char *)out->ops[i].arg)[out->ops[i].arglen] = '\0';
    return 0;
}

void lf_free(struct lf_format *f)
{
    free(f->ops);
    free(f->text);
    memset(f, 0, sizeof *f);
}

/* ---- time ---- */

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void lf_clock_init(struct lf_clock *c)
{
    memset(c, 0, sizeof *c);
    c->sec = -1;
}

static void clock_at(struct lf_clock *c, int64_t sec)
{
    if (c->sec == sec)
        return;
    time_t t = (time_t)sec;
    if (!localtime_r(&t, &c->tm))
        memset(&c->tm, 0, sizeof c->tm);
    c->sec = sec;
    c->gmtoff = c->tm.tm_gmtoff;
    long off = c->gmtoff < 0 ? -c->gmtoff : c->gmtoff;
    char sign = c->gmtoff < 0 ? '-' : '+';
    int mon = c->tm.tm_mon >= 0 && c->tm.tm_mon < 12 ? c->tm.tm_mon : 0;
    int n = snprintf(c->clf, sizeof c->clf, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]",
                     c->tm.tm_mday, months[mon], c->tm.tm_year + 1900, c->tm.tm_hour,
                     c->tm.tm_min, c->tm.tm_sec, sign, off / 3600, off / 60 % 60);
    c->clf_len = n > 0 && (size_t)n < sizeof c->clf ? (size_t)n : 0;
    n = snprintf(c->iso, sizeof c->iso, "%04d-%02d-%02dT%02d:%02d:%02d", c->tm.tm_year + 1900,
                 mon + 1, c->tm.tm_mday, c->tm.tm_hour, c->tm.tm_min, c->tm.tm_sec);
    c->iso_len = n > 0 && (size_t)n < sizeof c->iso ? (size_t)n : 0;
    snprintf(c->zone, sizeof c->zone, "%c%02ld:%02ld", sign, off / 3600 % 100, off / 60 % 60);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0); }

/* ---- rendering ---- */

int64_t lf_bytes_sent(const strata_host *h, strata_request *req, int sent_ok)
{
    if (!sent_ok)
        return 0;
    int st = h->status(req);
    const char *m = h->method(req);
    if ((st > 0 && st < 200) || st == 204 || st == 304 || (m && strcmp(m, "HEAD") == 0))
        return 0;
    int64_t n = h->resp_length(req);
    return n > 0 ? n : 0;
}

/* A client value, escaped: "-" when absent, "" shown as is (Apache's %i). */
static void put_value(struct lbuf *b, const char *s)
{
    if (s)
        lf_escape_apache(b, s);
    else
        lbuf_putc(b, '-');
}

static void put_urlpath(struct lbuf *b, const strata_host *h, strata_request *req, int json)
{
    void (*esc)(struct lbuf *, const char *) = json ? lf_escape_json : lf_escape_apache;
    const char *sn = h->script_name(req), *path = h->path(req);
    if (sn && *sn) {
        esc(b, sn);
        /* the host reports path "/" for the bare mount ("/assets") too */
        const char *u = h->uri(req);
        size_t n = strlen(sn);
        if (path && strcmp(path, "/") == 0 && u && strncmp(u, sn, n) == 0 &&
            (u[n] == '\0' || u[n] == '?'))
            return;
    }
    if (path)
        esc(b, path);
}

static void put_time_ms(struct lbuf *b, int64_t unix_us, int which)
{
    switch (which) {
    case K_TIME_SEC: lbuf_put_i64(b, floor_div(unix_us, 1000000)); break;
    case K_TIME_MSEC: lbuf_put_i64(b, floor_div(unix_us, 1000)); break;
    case K_TIME_USEC: lbuf_put_i64(b, unix_us); break;
    case K_TIME_MSEC_FRAC: put_padded(b, (unix_us - floor_div(unix_us, 1000000) * 1000000) / 1000, 3); break;
    case K_TIME_USEC_FRAC: put_padded(b, unix_us - floor_div(unix_us, 1000000) * 1000000, 6); break;
    }
}

/* A JSON member: ,"key":"escaped" or ,"key":null */
static void json_str(struct lbuf *b, const char *key, const char *v)
{
    lbuf_puts(b, key);
    if (!v) {
        lbuf_put(b, "null", 4);
        return;
    }
    lbuf_putc(b, '"');
    lf_escape_json(b, v);
    lbuf_putc(b, '"');
}

/* microseconds with 3 decimals from nanoseconds */
static void json_us(struct lbuf *b, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    lbuf_put_i64(b, ns / 1000);
    lbuf_putc(b, '.');
    put_padded(b, ns % 1000, 3);
}

static void render_json(const struct lf_ctx *c, struct lbuf *b)
{
    const strata_host *h = c->h;
    strata_request *req = c->req;
    int64_t start = h->start_unix_us(req);
    struct lf_clock *clk = c->clock;
    clock_at(clk, floor_div(start, 1000000));

    lbuf_put(b, "{\"time\":\"", 9);
    lbuf_put(b, clk->iso, clk->iso_len);
    lbuf_putc(b, '.');
    put_padded(b, (start - floor_div(start, 1000000) * 1000000) / 1000, 3);
    lbuf_puts(b, clk->zone);
    lbuf_putc(b, '"');
    json_str(b, ",\"client\":", h->client(req));
    json_str(b, ",\"method\":", h->method(req));
    lbuf_puts(b, ",\"path\":\"");
    put_urlpath(b, h, req, 1);
    lbuf_putc(b, '"');
    json_str(b, ",\"query\":", h->query(req));
    json_str(b, ",\"protocol\":", h->version(req));
    lbuf_puts(b, ",\"status\":");
    lbuf_put_i64(b, h->status(req));
    lbuf_puts(b, ",\"bytes\":");
    lbuf_put_i64(b, lf_bytes_sent(h, req, c->sent_ok));
    json_str(b, ",\"referer\":", h->header(req, "Referer"));
    json_str(b, ",\"user_agent\":", h->header(req, "User-Agent"));
    json_str(b, ",\"user\":", h->var_get(req, STRATA_VAR_USER));
    lbuf_puts(b, ",\"duration_us\":");
    lbuf_put_i64(b, c->duration_us);
    if (!c->sent_ok)
        lbuf_puts(b, ",\"aborted\":true");
    lbuf_puts(b, ",\"timings\":[");
    strata_timing t[32];
    int n = h->timings ? h->timings(req, t, 32) : 0;
    for (int i = 0; i < n && i < 32; i++) {
        if (i)
            lbuf_putc(b, ',');
        json_str(b, "{\"stage\":", t[i].section);
        json_str(b, ",\"plugin\":", t[i].plugin);
        lbuf_puts(b, ",\"depth\":");
        lbuf_put_i64(b, t[i].depth);
        lbuf_puts(b, ",\"total_us\":");
        json_us(b, t[i].total_ns);
        lbuf_puts(b, ",\"self_us\":");
        json_us(b, t[i].self_ns);
        lbuf_puts(b, ",\"cpu_us\":");
        json_us(b, t[i].cpu_ns);
        lbuf_putc(b, '}');
    }
    lbuf_put(b, "]}\n", 3);
}

static int status_matches(const struct lf_op *op, int status)
{
    if (!op->n_status)
        return 1;
    int found = 0;
    for (int i = 0; i < op->n_status; i++)
        if (op->status[i] == status)
            found = 1;
    return op->negate ? !found : found;
}

/* "%r": method, URI and protocol, each escaped, in one reservation. */
static void put_reqline(struct lbuf *b, const char *m, const char *u, const char *v)
{
    size_t nm = m ? strlen(m) : 0, nu = u ? strlen(u) : 0, nv = v ? strlen(v) : 0;
    char *o = room(b, 4 * (nm + nu + nv) + 32);
    if (!o)
        return;
    if (m)
        o = esc_apache_at(o, (const unsigned char *)m, nm);
    else
        *o++ = '-';
    *o++ = ' ';
    if (u)
        o = esc_apache_at(o, (const unsigned char *)u, nu);
    else
        *o++ = '-';
    if (nv) {
        *o++ = ' ';
        o = esc_apache_at(o, (const unsigned char *)v, nv);
    }
    commit(b, o);
}

/* A number, or "-" when it is `dash` (%s before a status, %b for 0). */
static void put_num(struct lbuf *b, int64_t v, int64_t dash)
{
    char *o = room(b, 21);
    if (!o)
        return;
    if (v == dash)
        *o++ = '-';
    else
        o = put_i64_at(o, v);
    commit(b, o);
}

void lf_render(const struct lf_format *f, const struct lf_ctx *c, struct lbuf *b)
{
    const strata_host *h = c->h;
    strata_request *req = c->req;
    int status = h->status(req);
    for (size_t i = 0; i < f->n; i++) {
        const struct lf_op *op = &f->ops[i];
        if (op->kind == K_LIT) {
            char *o = room(b, op->arglen + sizeof op->lit);
            if (!o)
                return;
            /* short literals (most: " ", " \"") are one fixed-size move */
            if (op->arglen <= sizeof op->lit)
                memcpy(o, op->lit, sizeof op->lit);
            else
                memcpy(o, op->arg, op->arglen);
            commit(b, o + op->arglen);
            continue;
        }
        if (op->n_status && !status_matches(op, status)) {
            lbuf_putc(b, '-');
            continue;
        }
        switch (op->kind) {
        case K_JSON:
            render_json(c, b);
            return;   /* the line is complete, newline included */
        case K_CLIENT: put_value(b, h->client(req)); break;
        case K_IDENT: lbuf_putc(b, '-'); break;
        case K_USER: {
            const char *u = h->var_get(req, STRATA_VAR_USER);
            if (u && !*u)
                lbuf_put(b, "\"\"", 2);   /* as Apache: empty user shows as "" */
            else
                put_value(b, u);
            break;
        }
        case K_TIME:
        case K_TIME_FMT: {
            int64_t us = op->end ? c->now_unix_us : h->start_unix_us(req);
            struct lf_clock *clk = op->end ? c->clock_end : c->clock;
            clock_at(clk, floor_div(us, 1000000));
            if (op->kind == K_TIME) {
                char *o = room(b, sizeof clk->clf);
                if (o) {
                    memcpy(o, clk->clf, sizeof clk->clf);
                    commit(b, o + clk->clf_len);
                }
            } else {
                char out[512];
                /* the format comes from the config file, never the client */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                size_t n = strftime(out, sizeof out, op->arg, &clk->tm);
#pragma GCC diagnostic pop
                lbuf_put(b, out, n);
            }
            break;
        }
        case K_TIME_SEC: case K_TIME_MSEC: case K_TIME_USEC:
        case K_TIME_MSEC_FRAC: case K_TIME_USEC_FRAC:
            put_time_ms(b, op->end ? c->now_unix_us : h->start_unix_us(req), op->kind);
            break;
        case K_REQLINE: put_reqline(b, h->method(req), h->uri(req), h->version(req)); break;
        case K_METHOD: put_value(b, h->method(req)); break;
        case K_URLPATH: put_urlpath(b, h, req, 0); break;
        case K_QUERY: {
            const char *q = h->query(req);
            if (q) {
                lbuf_putc(b, '?');
                lf_escape_apache(b, q);
            }
            break;
        }
        case K_PROTO: put_value(b, h->version(req)); break;
        case K_STATUS: put_num(b, status > 0 ? status : -1, -1); break;
        case K_BYTES_CLF: put_num(b, lf_bytes_sent(h, req, c->sent_ok), 0); break;
        case K_BYTES: put_num(b, lf_bytes_sent(h, req, c->sent_ok), INT64_MIN); break;
        case K_DUR_US: put_num(b, c->duration_us, INT64_MIN); break;
        case K_DUR_MS: put_num(b, c->duration_us / 1000, INT64_MIN); break;
        case K_DUR_S: put_num(b, c->duration_us / 1000000, INT64_MIN); break;
        case K_REQ_HDR: put_value(b, h->header(req, op->arg)); break;
        case K_RESP_HDR: put_value(b, h->resp_header(req, op->arg)); break;
        case K_VAR: put_value(b, h->var_get(req, op->arg)); break;
        case K_HOST: {
            const char *host = h->header(req, "Host");
            put_value(b, host && *host ? host : NULL);
            break;
        }
        case K_PID: put_num(b, c->pid, INT64_MIN); break;
        case K_TID: put_num(b, c->tid, INT64_MIN); break;
        case K_CONN: lbuf_putc(b, c->sent_ok ? '+' : 'X'); break;
        }
    }
    lbuf_putc(b, '\n');
}
