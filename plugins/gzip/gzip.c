/*
 * gzip — compress text-like responses for clients that accept gzip.
 *
 *   [filter:gzip]
 *   use = gzip
 *   types = text/html text/css application/json
 *   min_length = 256
 *   level = 6
 *
 * After the downstream answered, a response is eligible when its status is
 * 200, its media type matches `types` (globs, parameters ignored), it has
 * no Content-Encoding and no `Cache-Control: no-transform`, and its body
 * length is between `min_length` and `max_size`. An eligible response gets
 * `Vary: Accept-Encoding` (caches must key on it whoever asked), and is
 * compressed when the request's Accept-Encoding accepts gzip (q-values
 * respected; q=0 refuses; `*` counts when gzip is not named) and carries no
 * Range header. A compressed response gets Content-Encoding: gzip, the new
 * length, a weak ETag (W/"..."), and no Accept-Ranges, as nginx does: the
 * bytes differ, the meaning does not.
 *
 * Memory bodies are compressed directly; fd bodies (static files) are read
 * with pread in chunks. Compression is CPU work: small bodies are cheap
 * enough for the I/O thread, so the plugin is declared non-blocking and
 * returns STRATA_YIELD for bodies above `inline_limit` when it runs there;
 * the host then re-runs the request on the pool. Each thread keeps its own
 * deflate state (deflateReset instead of a 256 KiB allocation per request).
 */
#include "strata.h"
#include "httputil.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

STRATA_HOST_DECLARE;

#define GZIP_CHUNK (64 * 1024)

/* ---- configuration ------------------------------------------------------ */

typedef struct gzip_conf {
    strata_list types;
    int64_t min_length;
    int64_t max_size;
    int64_t level;
    int64_t inline_limit;
} gzip_conf;

typedef struct gzip_inst {
    const strata_section *sec;
    strata_list types;
    int64_t min_length, max_size, inline_limit;
    int level;
} gzip_inst;

/* Per thread: a deflate stream kept between requests, and a read buffer. */
typedef struct gzip_thread {
    z_stream zs;
    unsigned char *chunk;
} gzip_thread;

static const strata_option gzip_options[] = {
    {"types", STRATA_OPT_LIST,
     "text/* application/json application/javascript application/xml image/svg+xml", 0,
     offsetof(gzip_conf, types), "media types to compress (globs: text/*, application/*+json)",
     NULL},
    {"min_length", STRATA_OPT_SIZE, "256", 0, offsetof(gzip_conf, min_length),
     "smaller bodies are sent as they are", NULL},
    {"max_size", STRATA_OPT_SIZE, "16M", 0, offsetof(gzip_conf, max_size),
     "larger bodies are sent as they are", NULL},
    {"level", STRATA_OPT_INT, "6", 0, offsetof(gzip_conf, level),
     "zlib compression level, 1 (fast) to 9 (small)", "1..9"},
    {"inline_limit", STRATA_OPT_SIZE, "64K", 0, offsetof(gzip_conf, inline_limit),
     "larger bodies are compressed on a pool thread, not the I/O thread", NULL},
    STRATA_OPTIONS_END,
};

/* ---- Accept-Encoding ---------------------------------------------------- */

/* A qvalue ("0", "0.5", "1.000") in thousandths; -1 when malformed. */
static int parse_q(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

static int is_ows(int c) { return c == ' ' || c == '\t'; }

/* Does this Accept-Encoding value accept gzip? RFC 9110 12.5.3. */
static int accepts_gzip(const char *ae)
{
    int gzip_q = -1, star_q = -1;
    const char *p = ae;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *e = p + n;
        while (p < e && is_ows(*p))
            p++;
        const char *c = p;
        while (p < e && *p != ';' && !is_ows(*p))
            p++;
        size_t clen = (size_t)(p - c);
        int q = 1000;
        /* parameters: only q matters */
        while (p < e) {
            while (p < e && (is_ows(*p) || *p == ';'))
                p++;
            const char *k = p;
            while (p < e && *p != '=' && *p != ';' && !is_ows(*p))
                p++;
            size_t klen = (size_t)(p - k);
            while (p < e && is_ows(*p))
                p++;
            if (p < e && *p == '=') {
                p++;
                while (p < e && is_ows(*p))
                    p++;
                const char *v = p;
                while (p < e && *p != ';' && !is_ows(*p))
                    p++;
                if (klen == 1 && (*k == 'q' || *k == 'Q')) {
                    q = parse_q(v, (size_t)(p - v));
                    if (q < 0)
                        q = 0;   /* malformed: do not take it as a yes */
                }
            } else if (klen == 0 && p < e) {
                p++;   /* stray character */
            }
        }
        if ((clen == 4 && strncasecmp(c, "gzip", 4) == 0) ||
            (clen == 6 && strncasecmp(c, "x-gzip", 6) == 0)) {
            if (q > gzip_q)
                gzip_q = q;
        } else if (clen == 1 && *c == '*') {
            if (q > star_q)
                star_q = q;
        }
        p = end ? end + 1 : NULL;
    }
    return gzip_q >= 0 ? gzip_q > 0 : star_q > 0;
}

/* ---- response helpers --------------------------------------------------- */

static int type_matches(const gzip_inst *g, const char *ctype)
{
    if (!ctype)
        return 0;
    char media[128];
    size_t n = 0;
    while (ctype[n] && ctype[n] != ';' && !is_ows(ctype[n]) && n < sizeof media - 1) {
        media[n] = ctype[n];
        n++;
    }
    media[n] = '\0';
    if (n == 0)
        return 0;
    for (size_t i = 0; i < g->types.n; i++)
        if (fnmatch(g->types.items[i], media, FNM_CASEFOLD) == 0)
            return 1;
    return 0;
}

/* Cache-Control: no-transform forbids changing the bytes (RFC 9111). */
static int no_transform(strata_request *req)
{
    const char *cc = strata->resp_header(req, "Cache-Control");
    if (!cc)
        return 0;
    for (const char *p = cc; (p = strcasestr(p, "no-transform")); p += 12) {
        int before = p == cc || p[-1] == ',' || is_ows(p[-1]);
        int after = !p[12] || p[12] == ',' || is_ows(p[12]);
        if (before && after)
            return 1;
    }
    return 0;
}

/* ---- compression -------------------------------------------------------- */

static int stream_init(z_stream *zs, int level)
{
    memset(zs, 0, sizeof *zs);
    /* 15 window bits + 16: a gzip wrapper instead of zlib's */
    return deflateInit2(zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
}

/* Compress `len` bytes from memory `mem`, or from fd at `off` when mem is
 * NULL. On success *out is malloc'd (the caller hands it to the host). */
static int compress_body(const gzip_inst *g, gzip_thread *t, const void *mem, int fd,
                         uint64_t off, size_t len, unsigned char **out, size_t *out_len)
{
    gzip_thread local = {0};
    int own = 0;
    if (t && t->zs.state) {
        if (deflateReset(&t->zs) != Z_OK)
            return -1;
    } else {
        if (stream_init(&local.zs, g->level))
            return -1;
        t = &local;
        own = 1;
    }
    z_stream *zs = &t->zs;
    size_t cap = deflateBound(zs, (uLong)len);
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (!buf)
        goto done;
    zs->next_out = buf;
    zs->avail_out = (uInt)cap;
    if (mem) {
        zs->next_in = (Bytef *)mem;
        zs->avail_in = (uInt)len;
        if (deflate(zs, Z_FINISH) != Z_STREAM_END)
            goto done;
    } else {
        if (!t->chunk && !(t->chunk = malloc(GZIP_CHUNK)))
            goto done;
        unsigned char *chunk = t->chunk;
        size_t done_in = 0;
        int z = Z_OK;
        while (z == Z_OK) {
            size_t want = len - done_in < GZIP_CHUNK ? len - done_in : GZIP_CHUNK;
            ssize_t n = 0;
            if (want) {
                n = pread(fd, chunk, want, (off_t)(off + done_in));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    goto done;   /* error, or the file shrank: keep it as is */
            }
            done_in += (size_t)n;
            zs->next_in = chunk;
            zs->avail_in = (uInt)n;
            z = deflate(zs, done_in == len ? Z_FINISH : Z_NO_FLUSH);
            if (z == Z_STREAM_END)
                break;
            if (z != Z_OK || zs->avail_in)
                goto done;
        }
    }
    *out_len = cap - zs->avail_out;
    if (*out_len < cap / 2) {
        unsigned char *shrunk = realloc(buf, *out_len ? *out_len : 1);
        if (shrunk)
            buf = shrunk;
    }
    *out = buf;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    if (own) {
        deflateEnd(&local.zs);
        free(local.chunk);
    }
    return rc;
}

/* ---- create / destroy -------------------------------------------------- */

static int gzip_create(const strata_section *sec, const void *config, void **out)
{
    const gzip_conf *c = config;
    if (c->types.n == 0) {
        strata->config_error(sec, "types", "expected at least one media type like 'text/*'");
        return STRATA_ERROR;
    }
    for (size_t i = 0; i < c->types.n; i++)
        if (!strchr(c->types.items[i], '/')) {
            strata->config_error(sec, "types", "expected a media type like 'text/html', got '%s'",
                                 c->types.items[i]);
            return STRATA_ERROR;
        }
    if (c->max_size < c->min_length) {
        strata->config_error(sec, "max_size", "'%lld' is below min_length '%lld'",
                             (long long)c->max_size, (long long)c->min_length);
        return STRATA_ERROR;
    }
    if (c->max_size > (int64_t)UINT32_MAX / 2) {
        strata->config_error(sec, "max_size", "at most 2G, got '%lld'", (long long)c->max_size);
        return STRATA_ERROR;
    }
    gzip_inst *g = calloc(1, sizeof *g);
    if (!g)
        return STRATA_ERROR;
    g->sec = sec;
    g->types = c->types;
    g->min_length = c->min_length;
    g->max_size = c->max_size;
    g->inline_limit = c->inline_limit;
    g->level = (int)c->level;
    *out = g;
    return STRATA_OK;
}

static void gzip_destroy(void *inst) { free(inst); }

static int gzip_thread_init(void *inst, void **slot)
{
    const gzip_inst *g = inst;
    gzip_thread *t = calloc(1, sizeof *t);
    if (!t)
        return STRATA_ERROR;
    if (stream_init(&t->zs, g->level)) {
        free(t);
        return STRATA_ERROR;
    }
    *slot = t;
    return STRATA_OK;
}

static void gzip_thread_fini(void *inst, void *slot)
{
    gzip_thread *t = slot;
    if (!t)
        return;
    deflateEnd(&t->zs);
    free(t->chunk);
    free(t);
}

/* ---- the request -------------------------------------------------------- */

static int gzip_handle(void *inst, strata_request *req)
{
    const gzip_inst *g = inst;
    int rc = strata->next(req);
    if (rc != STRATA_OK)
        return rc;

    if (strata->status(req) != 200)
        return STRATA_OK;
    const char *ce = strata->resp_header(req, "Content-Encoding");
    if ((ce && strcasecmp(ce, "identity") != 0) || no_transform(req))
        return STRATA_OK;
    if (!type_matches(g, strata->resp_header(req, "Content-Type")))
        return STRATA_OK;
    int64_t len = strata->resp_length(req);
    if (len < g->min_length || len > g->max_size)
        return STRATA_OK;

    /* From here the representation depends on Accept-Encoding. */
    if (http_vary_add(strata, req, "Accept-Encoding"))
        return STRATA_ERROR;
    if (strata->header(req, "Range") || !accepts_gzip(strata->header(req, "Accept-Encoding")))
        return STRATA_OK;
    if (len > g->inline_limit && !strata->may_block(req))
        return STRATA_YIELD;

    size_t mlen = 0;
    const void *mem = strata->resp_body(req, &mlen);
    uint64_t off = 0, flen = 0;
    int fd = mem ? -1 : strata->resp_body_fd(req, &off, &flen);
    if (!mem && fd < 0)
        return STRATA_OK;

    unsigned char *out = NULL;
    size_t out_len = 0;
    if (compress_body(g, strata->thread_data(req), mem, fd, off, (size_t)len, &out, &out_len)) {
        strata->log(g->sec, STRATA_LOG_WARN, "cannot compress %s: sent as it is",
                    strata->path(req));
        return STRATA_OK;
    }
    if (out_len >= (size_t)len) {   /* incompressible: not worth it */
        free(out);
        return STRATA_OK;
    }
    if (strata->set_body(req, out, out_len, STRATA_BODY_FREE)) {
        free(out);
        return STRATA_ERROR;
    }
    if (strata->set_header(req, "Content-Encoding", "gzip"))
        return STRATA_ERROR;
    if (strata->resp_header(req, "Content-Length") &&
        strata->set_header(req, "Content-Length", strata->sprintf(req, "%zu", out_len)))
        return STRATA_ERROR;
    /* byte ranges are served on the identity form only (a Range request is
     * never compressed): do not invite resuming this one by range */
    strata->remove_header(req, "Accept-Ranges");
    const char *etag = strata->resp_header(req, "ETag");
    if (etag && strncmp(etag, "W/", 2) != 0 &&
        strata->set_header(req, "ETag", strata->sprintf(req, "W/%s", etag)))
        return STRATA_ERROR;
    return STRATA_OK;
}

/* ---- descriptor --------------------------------------------------------- */

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "gzip",
    .version = "1.0",
    .summary = "gzip text responses for clients that accept it",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = gzip_options,
    .config_size = sizeof(gzip_conf),
    .create = gzip_create,
    .destroy = gzip_destroy,
    .thread_init = gzip_thread_init,
    .thread_fini = gzip_thread_fini,
    .handle = gzip_handle,
};
