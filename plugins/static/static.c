/* static.c — the static plugin: files under `root`, served as nginx
 * serves them, never anything outside it.
 *
 * A request goes: method check, raw-URI check (%00, %2F), path
 * normalisation (http.c: "..", dotfiles), then the thread's small-file
 * cache (cache.c). On a hit the answer is built from precomputed strings
 * and a reference to the cached bytes, with no system call, no lock and
 * no malloc. On a miss the file is opened relative to the root fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) — or, on kernels
 * without it, a component-by-component O_NOFOLLOW walk — and either read
 * into the cache (regular files up to cache_max_file) or handed to the
 * host with set_body_fd, which sends it with sendfile.
 *
 * How the cache stays correct when files change: every entry records the
 * (dev, inode, size, mtime, ctime) of the file and of its .gz/.br
 * siblings. At most once per second per entry (st_cache_check_ns) a hit
 * re-stats those paths; any difference — a rewrite, a rename over it, a
 * truncate, a touch, a sibling appearing — drops the entry, and the
 * request takes the miss path, which opens the file through the secure
 * resolver again. So a change is seen within one second, like nginx's
 * open_file_cache_valid but ten times shorter by default. Files are only
 * cached once their ctime is a second old (st_cache_racy_ns): a writer
 * still busy inside the same timestamp tick could otherwise leave bytes
 * in the cache that no later stat would show as stale ("racy git").
 * The re-stat follows the path without RESOLVE_BENEATH (there is no
 * statx with resolve flags); that is safe because it only decides whether
 * to reuse bytes read earlier through the secure path: an inode that
 * changed in any way sends the request back through openat2.
 *
 * Non-blocking: the plugin declares STRATA_NONBLOCKING. Opening and
 * stat-ing local files is accepted as fast; reading a file into the cache
 * uses preadv2(RWF_NOWAIT) on the I/O thread, and a read that would wait
 * for the disk, or a directory listing, returns STRATA_YIELD so the host
 * re-runs the request on its pool. Nothing before a yield has effects.
 */
#include "strata.h"
#include "cache.h"
#include "http.h"
#include "mime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if defined(SYS_openat2) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#define HAVE_OPENAT2 1
#endif

STRATA_HOST_DECLARE;

/* Tunables the unit tests lower; the plugin never changes them. */
int64_t st_cache_check_ns = 1000000000;   /* re-stat an entry at most this often  */
int64_t st_cache_racy_ns = 1000000000;    /* only cache files older than this     */

#define REL_MAX 4096            /* longest path below the root we accept       */
#define REL_BUF (REL_MAX + 512) /* room for "/index-name" or ".gz" after it    */

/* ---- configuration ----------------------------------------------------- */

typedef struct static_config {
    const char *root;
    strata_list index;
    int64_t max_age;
    int listing;
    const char *hidden;
    strata_list hidden_allow;
    const char *symlinks;
    int precompressed;
    const char *mime_file;
    strata_list mime_types;
    const char *default_type;
    int64_t cache_max_file;
    int64_t cache_size;
    const char *resolver;
} static_config;

static const strata_option static_options[] = {
    {"root", STRATA_OPT_PATH, NULL, 1, offsetof(static_config, root),
     "folder to serve (relative to the config file's folder)", NULL},
    {"index", STRATA_OPT_LIST, "index.html", 0, offsetof(static_config, index),
     "file names tried, in order, for a request ending in '/'", NULL},
    {"max_age", STRATA_OPT_INT, "0", 0, offsetof(static_config, max_age),
     "Cache-Control max-age in seconds; -1 sends no Cache-Control", "-1..315360000"},
    {"listing", STRATA_OPT_BOOL, "false", 0, offsetof(static_config, listing),
     "an HTML listing for a directory without index file (else 403)", NULL},
    {"hidden", STRATA_OPT_ENUM, "deny", 0, offsetof(static_config, hidden),
     "dotfiles and dot-folders: deny (403) or allow", "deny|allow"},
    {"hidden_allow", STRATA_OPT_LIST, ".well-known", 0, offsetof(static_config, hidden_allow),
     "dot-names served even when hidden = deny", NULL},
    {"symlinks", STRATA_OPT_ENUM, "inside", 0, offsetof(static_config, symlinks),
     "inside: follow relative symlinks that stay under root; never: refuse all", "inside|never"},
    {"precompressed", STRATA_OPT_BOOL, "true", 0, offsetof(static_config, precompressed),
     "serve FILE.br / FILE.gz to clients that accept them", NULL},
    {"mime_file", STRATA_OPT_PATH, NULL, 0, offsetof(static_config, mime_file),
     "mime.types file (default /etc/mime.types when present)", NULL},
    {"mime_types", STRATA_OPT_LIST, NULL, 0, offsetof(static_config, mime_types),
     "extra EXT=TYPE mappings, e.g. 'md=text/markdown'", NULL},
    {"default_type", STRATA_OPT_STRING, "application/octet-stream", 0,
     offsetof(static_config, default_type), "Content-Type of unknown extensions", NULL},
    {"cache_max_file", STRATA_OPT_SIZE, "64K", 0, offsetof(static_config, cache_max_file),
     "files up to this size are kept in memory; 0 disables the cache", "0..16777216"},
    {"cache_size", STRATA_OPT_SIZE, "4M", 0, offsetof(static_config, cache_size),
     "memory for cached files, per thread", "0..4294967296"},
    {"resolver", STRATA_OPT_ENUM, "auto", 0, offsetof(static_config, resolver),
     "auto: openat2 where the kernel has it; walk: the O_NOFOLLOW walk", "auto|walk"},
    STRATA_OPTIONS_END,
};

typedef struct static_inst {
    const strata_section *sec;
    int rootfd;
    int use_openat2;
    uint64_t resolve;          /* RESOLVE_* for openat2                     */
    int follow;                /* symlinks inside root are followed         */
    int precompressed;
    int listing;
    st_hidden hidden;
    st_mime mime;
    const char *const *index;
    size_t n_index;
    char cache_control[40];    /* "" when max_age = -1                      */
    size_t max_file, cache_budget;
} static_inst;

/* The request headers the answer depends on, read in one pass. */
typedef struct reqhdrs {
    strata_request *req;
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
    const char *range, *if_range, *accept_encoding;
} reqhdrs;

/* What an answer says about the representation. */
typedef struct meta {
    const char *etag, *lastmod, *ctype;
    int64_t mtime;
    uint64_t size;
    int encoding;
    int vary;
} meta;

static const char *const enc_suffix[ST_ENC_N] = {"", ".gz", ".br"};
static const char *const enc_name[ST_ENC_N] = {NULL, "gzip", "br"};

/* ---- small answers ------------------------------------------------------ */

/* A short HTML page, in static memory (no copy, no allocation). */
static int error_page(strata_request *req, int status)
{
#define PAGE(code, text) \
    "<html><head><title>" #code " " text "</title></head><body><h1>" #code " " text \
    "</h1></body></html>\n"
    static const char p301[] = PAGE(301, "Moved Permanently"), p400[] = PAGE(400, "Bad Request"),
                      p403[] = PAGE(403, "Forbidden"), p404[] = PAGE(404, "Not Found"),
                      p405[] = PAGE(405, "Method Not Allowed"),
                      p412[] = PAGE(412, "Precondition Failed"),
                      p416[] = PAGE(416, "Range Not Satisfiable"),
                      p503[] = PAGE(503, "Service Unavailable"),
                      p500[] = PAGE(500, "Internal Server Error");
#undef PAGE
    const char *body;
    size_t len;
    switch (status) {
    case 301: body = p301, len = sizeof p301 - 1; break;
    case 400: body = p400, len = sizeof p400 - 1; break;
    case 403: body = p403, len = sizeof p403 - 1; break;
    case 404: body = p404, len = sizeof p404 - 1; break;
    case 405: body = p405, len = sizeof p405 - 1; break;
    case 412: body = p412, len = sizeof p412 - 1; break;
    case 416: body = p416, len = sizeof p416 - 1; break;
    case 503: body = p503, len = sizeof p503 - 1; break;
    default: status = 500, body = p500, len = sizeof p500 - 1; break;
    }
    strata->set_status(req, status);
    strata->set_header(req, "Content-Type", "text/html; charset=utf-8");
    return strata->set_body(req, body, len, STRATA_BODY_STATIC);
}

static int errno_page(static_inst *in, strata_request *req, int err, const char *rel)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
    case ENXIO:
    case ENODEV:
        return error_page(req, 404);
    case EACCES:
    case EPERM:
    case ELOOP:   /* a symlink where none may be                        */
    case EXDEV:   /* openat2: the path would leave the root             */
        return error_page(req, 403);
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
        strata->log(in->sec, STRATA_LOG_WARN, "cannot open '%s': %s", rel, strerror(err));
        return error_page(req, 503);
    default:
        strata->log(in->sec, STRATA_LOG_ERROR, "cannot open '%s': %s", rel, strerror(err));
        return error_page(req, 500);
    }
}

/* ---- opening files under the root ---------------------------------------- */

#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

/* O_NONBLOCK: a FIFO or a device under the root opens at once (then fails
 * the regular-file check) instead of holding the thread. */
static int open_walk(const static_inst *in, const char *rel)
{
    int dfd = in->rootfd, fd = -1;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            fd = openat(dfd, p, OPEN_FLAGS | O_NOFOLLOW);
            break;
        }
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int nfd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd != in->rootfd) {
            int e = errno;
            close(dfd);
            errno = e;
        }
        if (nfd < 0)
            return -1;
        dfd = nfd;
        p = slash + 1;
    }
    if (dfd != in->rootfd) {
        int e = errno;
        close(dfd);
        errno = e;
    }
    return fd;
}

static int open_under_root(const static_inst *in, const char *rel)
{
    if (!*rel)
        rel = ".";
#ifdef HAVE_OPENAT2
    if (in->use_openat2) {
        struct open_how how = {.flags = OPEN_FLAGS, .resolve = in->resolve};
        int fd;
        /* EAGAIN: a rename raced with the resolution; the kernel asks to retry */
        for (int i = 0; i < 3; i++) {
            fd = (int)syscall(SYS_openat2, in->rootfd, rel, &how, sizeof how);
            if (fd >= 0 || errno != EAGAIN)
                break;
        }
        return fd;
    }
#endif
    return open_walk(in, rel);
}

/* stat by path, only to compare with what the secure open saw */
static void stat_key(const static_inst *in, const char *rel, st_vkey *k)
{
    struct stat st;
    if (fstatat(in->rootfd, rel, &st, in->follow ? 0 : AT_SYMLINK_NOFOLLOW) == 0)
        st_vkey_from_stat(k, &st);
    else
        memset(k, 0, sizeof *k);
}

/* ---- representation metadata --------------------------------------------- */

static void make_etag(const struct stat *st, char *buf, size_t size)
{
    unsigned long long mt = (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                            (unsigned long long)st->st_mtim.tv_nsec;
    snprintf(buf, size, "\"%llx-%llx-%llx\"", (unsigned long long)st->st_ino,
             (unsigned long long)st->st_size, mt);
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Changed within st_cache_racy_ns: not yet safe to cache. */
static int racy(const struct stat *st)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age = ((int64_t)now.tv_sec - st->st_ctim.tv_sec) * 1000000000 +
                  (now.tv_nsec - st->st_ctim.tv_nsec);
    return age < st_cache_racy_ns;
}

/* ---- the answer ------------------------------------------------------------ */

static int collect_header(void *ctx, const char *name, const char *value)
{
    reqhdrs *h = ctx;
    const char **slot = NULL;
    switch (name[0] | 0x20) {
    case 'i':
        if (strcasecmp(name, "if-none-match") == 0)
            slot = &h->if_none_match;
        else if (strcasecmp(name, "if-modified-since") == 0)
            slot = &h->if_modified_since;
        else if (strcasecmp(name, "if-match") == 0)
            slot = &h->if_match;
        else if (strcasecmp(name, "if-unmodified-since") == 0)
            slot = &h->if_unmodified_since;
        else if (strcasecmp(name, "if-range") == 0)
            slot = &h->if_range;
        break;
    case 'r':
        if (strcasecmp(name, "range") == 0)
            slot = &h->range;
        break;
    case 'a':
        if (strcasecmp(name, "accept-encoding") == 0)
            slot = &h->accept_encoding;
        break;
    }
    if (slot) {
        /* a field sent twice is one list (RFC 9110 §5.3); for the date
         * fields and Range that makes it invalid, hence ignored */
        const char *v = *slot ? strata->sprintf(h->req, "%s, %s", *slot, value) : value;
        *slot = v ? v : *slot;
    }
    return 0;
}

static void add_common(static_inst *in, strata_request *req, const meta *m)
{
    strata->add_header(req, "ETag", m->etag);
    strata->add_header(req, "Last-Modified", m->lastmod);
    if (in->cache_control[0])
        strata->add_header(req, "Cache-Control", in->cache_control);
    if (m->vary)
        strata->add_header(req, "Vary", "Accept-Encoding");
}

/* Conditionals, Range, then the headers and the body: `rep` (a cached
 * representation) or `fd` (owned: passed to the host or closed). */
static int answer(static_inst *in, strata_request *req, const reqhdrs *h, const meta *m,
                  st_rep *rep, int fd, int is_get)
{
    st_cond c = {h->if_match, h->if_none_match, h->if_modified_since, h->if_unmodified_since,
                 h->range, h->if_range, is_get};
    st_validators v = {m->etag, m->mtime, m->size};
    st_answer a;
    st_evaluate(&c, &v, &a);
    if (a.status != 200 && a.status != 206 && fd >= 0)
        close(fd);
    char buf[80];
    switch (a.status) {
    case 304:
        strata->set_status(req, 304);
        add_common(in, req, m);
        return STRATA_OK;
    case 412:
        return error_page(req, 412);
    case 416:
        snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)m->size);
        strata->add_header(req, "Content-Range", buf);
        return error_page(req, 416);
    }
    strata->set_status(req, a.status);
    strata->add_header(req, "Content-Type", m->ctype);
    if (m->encoding)
        strata->add_header(req, "Content-Encoding", enc_name[m->encoding]);
    add_common(in, req, m);
    strata->add_header(req, "Accept-Ranges", "bytes");
    if (a.status == 206) {
        snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)a.off,
                 (unsigned long long)(a.off + a.len - 1), (unsigned long long)m->size);
        strata->add_header(req, "Content-Range", buf);
    }
    if (rep) {
        st_rep_ref(rep);
        if (strata->set_body_ref(req, rep->data + a.off, (size_t)a.len, st_rep_unref, rep) !=
            STRATA_OK) {
            st_rep_unref(rep);
            return STRATA_ERROR;
        }
        return STRATA_OK;
    }
    if (strata->set_body_fd(req, fd, a.off, a.len) != STRATA_OK) {
        close(fd);
        return STRATA_ERROR;
    }
    return STRATA_OK;
}

/* ---- the cache ------------------------------------------------------------- */

static int serve_entry(static_inst *in, strata_request *req, const reqhdrs *h, st_centry *e,
                       int is_get)
{
    int enc = ST_ENC_IDENTITY;
    int vary = e->rep[ST_ENC_GZIP] || e->rep[ST_ENC_BR];
    if (vary) {
        if (e->rep[ST_ENC_BR] && st_accepts_encoding(h->accept_encoding, "br"))
            enc = ST_ENC_BR;
        else if (e->rep[ST_ENC_GZIP] && st_accepts_encoding(h->accept_encoding, "gzip"))
            enc = ST_ENC_GZIP;
    }
    st_rep *r = e->rep[enc];
    meta m = {r->etag, r->lastmod, e->ctype, r->mtime, r->len, enc, vary};
    return answer(in, req, h, &m, r, -1, is_get);
}

/* Still what the files say? (at most once per st_cache_check_ns) */
static int entry_current(static_inst *in, st_centry *e, int64_t now)
{
    if (now - e->checked_ns < st_cache_check_ns)
        return 1;
    char path[REL_BUF];
    size_t n = strlen(e->file);
    st_vkey k;
    stat_key(in, e->file[0] ? e->file : ".", &k);
    if (!st_vkey_equal(&k, &e->key[ST_ENC_IDENTITY]))
        return 0;
    if (e->dirkey.type) {   /* an index among several: a new name may win */
        size_t dl = strlen(e->path) - 1;   /* "d/" -> "d", "/" -> "" */
        memcpy(path, e->path, dl);
        path[dl] = '\0';
        stat_key(in, dl ? path : ".", &k);
        if (!st_vkey_equal(&k, &e->dirkey))
            return 0;
    }
    if (in->precompressed) {
        for (int enc = ST_ENC_GZIP; enc < ST_ENC_N; enc++) {
            memcpy(path, e->file, n);
            memcpy(path + n, enc_suffix[enc], 4);
            stat_key(in, path, &k);
            if (!st_vkey_equal(&k, &e->key[enc]))
                return 0;
        }
    }
    e->checked_ns = now;
    return 1;
}

/* Read a whole small file into a new rep. STRATA_YIELD when the bytes are
 * not in the page cache and this thread must not wait for the disk;
 * STRATA_OK with *out NULL when it cannot be cached (changed meanwhile). */
static int load_rep(strata_request *req, int fd, const struct stat *st, int enc, st_rep **out)
{
    *out = NULL;
    size_t len = (size_t)st->st_size;
    st_rep *r = st_rep_new(len);
    if (!r)
        return STRATA_OK;
    int flags = 0;
#ifdef RWF_NOWAIT
    if (!strata->may_block(req))
        flags = RWF_NOWAIT;
#endif
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {(char *)r->data + off, len - off};
        ssize_t got = preadv2(fd, &iov, 1, (off_t)off, flags);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && flags && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            st_rep_unref(r);
            return STRATA_YIELD;
        }
        if (got < 0 && flags && errno == EOPNOTSUPP) {
            flags = 0;   /* this file system cannot tell: it does not wait either */
            continue;
        }
        if (got <= 0) {  /* an error, or the file shrank under us */
            st_rep_unref(r);
            return STRATA_OK;
        }
        off += (size_t)got;
    }
    struct stat after;
    st_vkey k0, k1;
    st_vkey_from_stat(&k0, st);
    if (fstat(fd, &after) < 0 || (st_vkey_from_stat(&k1, &after), !st_vkey_equal(&k0, &k1))) {
        st_rep_unref(r);
        return STRATA_OK;
    }
    r->encoding = enc;
    r->mtime = st->st_mtim.tv_sec;
    make_etag(st, r->etag, sizeof r->etag);
    st_http_date_format(st->st_mtim.tv_sec, r->lastmod);
    *out = r;
    return STRATA_OK;
}

/* A new entry for `key`, with the file (already open as fd) and its
 * usable siblings read in; *out NULL when something is not cacheable. */
static int cache_build(static_inst *in, strata_request *req, int fd, const struct stat *st,
                       const struct stat *dirst, const char *file, const char *key,
                       size_t keylen, st_centry **out)
{
    *out = NULL;
    st_centry *e = st_centry_new(key, keylen, file);
    if (!e)
        return STRATA_OK;
    /* the folder was stat-ed before the index search: a name added after
     * that changes its mtime, so the entry cannot outlive a better index */
    if (dirst && in->n_index > 1)
        st_vkey_from_stat(&e->dirkey, dirst);
    e->ctype = st_mime_lookup(&in->mime, file);
    st_vkey_from_stat(&e->key[ST_ENC_IDENTITY], st);
    int rc = load_rep(req, fd, st, ST_ENC_IDENTITY, &e->rep[ST_ENC_IDENTITY]);
    if (rc != STRATA_OK || !e->rep[ST_ENC_IDENTITY])
        goto out;
    e->cost += (size_t)st->st_size;
    if (in->precompressed) {
        char path[REL_BUF];
        size_t n = strlen(file);
        for (int enc = ST_ENC_GZIP; enc < ST_ENC_N; enc++) {
            memcpy(path, file, n);
            memcpy(path + n, enc_suffix[enc], 4);
            stat_key(in, path, &e->key[enc]);
            st_vkey *k = &e->key[enc];
            if (!st_vkey_regular(k) || ts_before(&k->mtim, &st->st_mtim))
                continue;           /* absent, or older than the file: unused */
            int sfd = open_under_root(in, path);
            if (sfd < 0)
                continue;           /* e.g. a symlink leaving the root: unused */
            struct stat sst;
            st_vkey sk;
            if (fstat(sfd, &sst) < 0 || (st_vkey_from_stat(&sk, &sst), !st_vkey_equal(&sk, k)) ||
                sst.st_size > (off_t)in->max_file || racy(&sst)) {
                close(sfd);
                rc = STRATA_OK;
                goto out;           /* moving or big: serve this one uncached */
            }
            rc = load_rep(req, sfd, &sst, enc, &e->rep[enc]);
            close(sfd);
            if (rc != STRATA_OK || !e->rep[enc])
                goto out;
            e->cost += (size_t)sst.st_size;
        }
    }
    *out = e;
    return STRATA_OK;
out:
    st_centry_free(e);
    return rc;
}

/* ---- files ------------------------------------------------------------------- */

/* Serve an open regular file: from the cache when it fits, else by fd.
 * `file` is its path under the root, `key` the request's cache key,
 * `dirst` the folder's stat when the file is its index (else NULL). */
static int serve_file(static_inst *in, strata_request *req, const reqhdrs *h, int fd,
                      const struct stat *st, const struct stat *dirst, const char *file,
                      const char *key, size_t keylen, int is_get, st_tcache *tc)
{
    if (tc && st->st_size <= (off_t)in->max_file && !racy(st)) {
        st_centry *e;
        int rc = cache_build(in, req, fd, st, dirst, file, key, keylen, &e);
        if (rc == STRATA_YIELD) {
            close(fd);
            return STRATA_YIELD;
        }
        if (e) {
            close(fd);
            e->checked_ns = strata->now_ns();
            rc = serve_entry(in, req, h, e, is_get);
            st_tcache_put(tc, e);   /* may free e; the response holds its rep */
            return rc;
        }
    }
    const char *ctype = st_mime_lookup(&in->mime, file);
    struct stat use = *st;
    int enc = ST_ENC_IDENTITY, vary = 0;
    if (in->precompressed) {
        char path[REL_BUF];
        size_t n = strlen(file);
        for (int e = ST_ENC_BR; e > ST_ENC_IDENTITY; e--) {
            memcpy(path, file, n);
            memcpy(path + n, enc_suffix[e], 4);
            st_vkey k;
            stat_key(in, path, &k);
            if (!st_vkey_regular(&k) || ts_before(&k.mtim, &st->st_mtim))
                continue;
            vary = 1;
            if (enc || !st_accepts_encoding(h->accept_encoding, enc_name[e]))
                continue;
            int sfd = open_under_root(in, path);
            struct stat sst;
            if (sfd >= 0 && fstat(sfd, &sst) == 0 && S_ISREG(sst.st_mode) &&
                !ts_before(&sst.st_mtim, &st->st_mtim)) {
                close(fd);
                fd = sfd;
                use = sst;
                enc = e;
            } else if (sfd >= 0) {
                close(sfd);
            }
        }
    }
    char etag[56], lastmod[32];
    make_etag(&use, etag, sizeof etag);
    st_http_date_format(use.st_mtim.tv_sec, lastmod);
    meta m = {etag, lastmod, ctype, use.st_mtim.tv_sec, (uint64_t)use.st_size, enc, vary};
    return answer(in, req, h, &m, NULL, fd, is_get);
}

/* /dir -> 301 /dir/ : the mount prefix, the normalised path, the query. */
static int redirect_dir(strata_request *req, const char *rel)
{
    const char *sn = strata->script_name(req);
    const char *q = strata->query(req);
    size_t snl = sn ? strlen(sn) : 0;
    while (snl > 0 && sn[snl - 1] == '/')
        snl--;
    const char *raw = strata->sprintf(req, "%.*s/%s%s", (int)snl, sn ? sn : "", rel,
                                      rel[0] ? "/" : "");
    if (!raw)
        return STRATA_ERROR;
    size_t need = strlen(raw) * 3 + 1;
    char *loc = strata->alloc(req, need + (q ? strlen(q) + 1 : 0));
    if (!loc)
        return STRATA_ERROR;
    size_t n = st_url_encode(raw, loc, need);
    if (q && *q) {
        loc[n++] = '?';
        strcpy(loc + n, q);
    }
    if (strata->set_header(req, "Location", loc) != STRATA_OK)
        return error_page(req, 400);   /* a query the host would not send */
    return error_page(req, 301);
}

/* ---- listings ------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_html(buf *b, const char *s)
{
    char tmp[6 * NAME_MAX + 1];
    while (*s) {   /* in pieces, so any length fits */
        char piece[NAME_MAX + 1];
        size_t n = strnlen(s, NAME_MAX);
        memcpy(piece, s, n);
        piece[n] = '\0';
        buf_add(b, tmp, st_html_escape(piece, tmp, sizeof tmp));
        s += n;
    }
}

static void buf_url(buf *b, const char *s)
{
    char tmp[3 * NAME_MAX + 1];
    while (*s) {
        char piece[NAME_MAX + 1];
        size_t n = strnlen(s, NAME_MAX);
        memcpy(piece, s, n);
        piece[n] = '\0';
        buf_add(b, tmp, st_url_encode(piece, tmp, sizeof tmp));
        s += n;
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An HTML index of the folder open as `fd` (taken). Names are escaped,
 * links percent-encoded; dotfiles follow the `hidden` policy. */
static int listing(static_inst *in, strata_request *req, int fd, const char *rel)
{
    if (!strata->may_block(req)) {   /* readdir of a big folder is slow */
        close(fd);
        return STRATA_YIELD;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_page(req, 500);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int failed = 0;
    for (struct dirent *de; (de = readdir(d));) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        if (nm[0] == '.') {
            int ok = in->hidden.allow_all;
            for (size_t i = 0; !ok && i < in->hidden.n; i++)
                ok = strcmp(in->hidden.names[i], nm) == 0;
            if (!ok)
                continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                failed = 1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(nm))) {
            failed = 1;
            break;
        }
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    buf b = {0};
    const char *sn = strata->script_name(req);
    char *title = strata->sprintf(req, "%s/%s%s", sn ? sn : "", rel, rel[0] ? "/" : "");
    buf_str(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    buf_html(&b, title ? title : "/");
    buf_str(&b, "</title></head>\n<body><h1>Index of ");
    buf_html(&b, title ? title : "/");
    buf_str(&b, "</h1><hr>\n<table>\n");
    if (rel[0])
        buf_str(&b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    for (size_t i = 0; i < n && !failed; i++) {
        struct stat st;
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        int isdir = S_ISDIR(st.st_mode);
        if (!isdir && !S_ISREG(st.st_mode) && !(S_ISLNK(st.st_mode) && in->follow))
            continue;   /* FIFOs, devices, sockets: never served, never shown */
        char when[32], size[32];
        st_http_date_format(st.st_mtim.tv_sec, when);
        if (S_ISREG(st.st_mode))
            snprintf(size, sizeof size, "%lld", (long long)st.st_size);
        else
            strcpy(size, "-");
        buf_str(&b, "<tr><td><a href=\"./");
        buf_url(&b, names[i]);
        buf_str(&b, isdir ? "/\">" : "\">");
        buf_html(&b, names[i]);
        buf_str(&b, isdir ? "/</a></td><td>" : "</a></td><td>");
        buf_str(&b, when);
        buf_str(&b, "</td><td>");
        buf_str(&b, size);
        buf_str(&b, "</td></tr>\n");
    }
    buf_str(&b, "</table><hr></body></html>\n");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    if (failed || b.failed) {
        free(b.p);
        return error_page(req, 503);
    }
    /* HEAD: the host drops the body, Content-Length stays */
    strata->set_status(req, 200);
    strata->set_header(req, "Content-Type", "text/html; charset=utf-8");
    strata->set_header(req, "Cache-Control", "no-cache");
    if (strata->set_body(req, b.p, b.len, STRATA_BODY_FREE) != STRATA_OK) {
        free(b.p);
        return STRATA_ERROR;
    }
    return STRATA_OK;
}

/* ---- the request ------------------------------------------------------------------ */

static int static_handle(void *p, strata_request *req)
{
    static_inst *in = p;
    const char *method = strata->method(req);
    int is_get = strcmp(method, "GET") == 0;
    if (!is_get && strcmp(method, "HEAD") != 0) {
        strata->set_header(req, "Allow", "GET, HEAD");
        return error_page(req, 405);
    }
    /* the host decodes once and refuses these too; the decoded path can
     * no longer show them, so look at what the client sent */
    if (st_uri_has_forbidden_escape(strata->uri(req)))
        return error_page(req, 400);
    const char *path = strata->path(req);
    char rel[REL_BUF];
    int is_dir;
    switch (st_path_normalize(path ? path : "", rel, REL_MAX, &is_dir, &in->hidden)) {
    case ST_PATH_OK:
        break;
    case ST_PATH_LONG:
        return error_page(req, 404);
    default:   /* climbing out, or a denied dotfile */
        return error_page(req, 403);
    }
    size_t len = strlen(rel);
    if (!rel[0] && !is_dir)    /* the mount point itself: "/assets" */
        return redirect_dir(req, rel);

    /* the cache key: the path, with '/' when a folder (its index) is asked */
    char key[REL_BUF];
    memcpy(key, rel, len);
    size_t keylen = len;
    if (is_dir)
        key[keylen++] = '/';
    key[keylen] = '\0';

    reqhdrs h = {.req = req};
    strata->header_each(req, collect_header, &h);

    st_tcache *tc = in->max_file ? strata->thread_data(req) : NULL;
    if (tc) {
        uint64_t hash = st_hash(key, keylen);
        st_centry *e = st_tcache_get(tc, key, keylen, hash);
        if (e) {
            /* the request's arrival time, which the host has read already:
             * no clock read per hit (a queued request may see an entry up
             * to its queueing time older) */
            int64_t now = strata->start_ns(req);
            if (now <= 0)
                now = strata->now_ns();
            if (entry_current(in, e, now)) {
                tc->hits++;
                return serve_entry(in, req, &h, e, is_get);
            }
            st_tcache_drop(tc, e);
        }
        tc->misses++;
    }

    int fd = open_under_root(in, rel);
    if (fd < 0)
        return errno_page(in, req, errno, rel);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return errno_page(in, req, e, rel);
    }
    if (S_ISDIR(st.st_mode)) {
        if (!is_dir) {
            close(fd);
            return redirect_dir(req, rel);
        }
        char file[REL_BUF];
        for (size_t i = 0; i < in->n_index; i++) {
            size_t n = strlen(in->index[i]), o = 0;
            if (len + 1 + n >= sizeof file)
                continue;
            memcpy(file, rel, len);
            o = len;
            if (len)
                file[o++] = '/';
            memcpy(file + o, in->index[i], n + 1);
            int ifd = open_under_root(in, file);
            if (ifd < 0) {
                if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
                    continue;
                int e = errno;
                close(fd);
                return errno_page(in, req, e, file);
            }
            struct stat ist;
            if (fstat(ifd, &ist) == 0 && S_ISREG(ist.st_mode)) {
                close(fd);
                return serve_file(in, req, &h, ifd, &ist, &st, file, key, keylen, is_get, tc);
            }
            close(ifd);
        }
        if (in->listing)
            return listing(in, req, fd, rel);
        close(fd);
        return error_page(req, 403);
    }
    if (!S_ISREG(st.st_mode) || is_dir) {   /* FIFO, device, socket; "file/" */
        close(fd);
        return error_page(req, 404);
    }
    return serve_file(in, req, &h, fd, &st, NULL, rel, key, keylen, is_get, tc);
}

/* ---- life cycle ---------------------------------------------------------------- */

static void static_destroy(void *p)
{
    static_inst *in = p;
    if (!in)
        return;
    if (in->rootfd >= 0)
        close(in->rootfd);
    st_mime_free(&in->mime);
    free(in);
}

static int check_name(const strata_section *sec, const char *key, const char *name)
{
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strlen(name) > NAME_MAX) {
        strata->config_error(sec, key, "expected a file name without '/', got '%s'", name);
        return -1;
    }
    return 0;
}

static int static_create(const strata_section *sec, const void *config, void **out)
{
    const static_config *cfg = config;
    static_inst *in = calloc(1, sizeof *in);
    if (!in) {
        strata->config_error(sec, "root", "out of memory");
        return STRATA_ERROR;
    }
    in->sec = sec;
    in->rootfd = -1;
    if (st_mime_init(&in->mime, cfg->default_type) < 0 || st_mime_add_builtin(&in->mime) < 0) {
        strata->config_error(sec, "mime_types", "out of memory");
        goto fail;
    }
    in->rootfd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (in->rootfd < 0) {
        strata->config_error(sec, "root", "cannot open '%s': %s", cfg->root, strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < cfg->index.n; i++)
        if (check_name(sec, "index", cfg->index.items[i]) < 0)
            goto fail;
    in->index = cfg->index.items;
    in->n_index = cfg->index.n;
    for (size_t i = 0; i < cfg->hidden_allow.n; i++) {
        const char *nm = cfg->hidden_allow.items[i];
        if (check_name(sec, "hidden_allow", nm) < 0)
            goto fail;
        if (nm[0] != '.') {
            strata->config_error(sec, "hidden_allow", "expected a name starting with '.', got '%s'",
                                 nm);
            goto fail;
        }
    }
    in->hidden.allow_all = strcasecmp(cfg->hidden, "allow") == 0;
    in->hidden.n = cfg->hidden_allow.n;
    in->hidden.names = cfg->hidden_allow.items;
    in->listing = cfg->listing;
    in->precompressed = cfg->precompressed;
    if (cfg->max_age >= 0)
        snprintf(in->cache_control, sizeof in->cache_control, "max-age=%lld",
                 (long long)cfg->max_age);
    in->max_file = (size_t)cfg->cache_max_file;
    in->cache_budget = (size_t)cfg->cache_size;
    if (in->cache_budget == 0)
        in->max_file = 0;

    int never = strcasecmp(cfg->symlinks, "never") == 0;
#ifdef HAVE_OPENAT2
    if (strcasecmp(cfg->resolver, "walk") != 0) {
        in->resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (never ? RESOLVE_NO_SYMLINKS : 0);
        struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = in->resolve};
        int fd = (int)syscall(SYS_openat2, in->rootfd, ".", &how, sizeof how);
        if (fd >= 0) {
            close(fd);
            in->use_openat2 = 1;
        } else {
            strata->log(sec, STRATA_LOG_INFO, "openat2 unavailable (%s): symlinks are not followed",
                        strerror(errno));
        }
    }
#endif
    /* the walk follows no symlink at all: stricter, never looser */
    in->follow = in->use_openat2 && !never;

    const char *mf = cfg->mime_file ? cfg->mime_file : "/etc/mime.types";
    if (st_mime_load(&in->mime, mf) < 0) {
        if (cfg->mime_file) {
            strata->config_error(sec, "mime_file", "cannot read '%s': %s", mf, strerror(errno));
            goto fail;
        }
        strata->log(sec, STRATA_LOG_WARN,
                    "cannot read '%s': %s; using the built-in types (install media-types)", mf,
                    strerror(errno));
    }
    for (size_t i = 0; i < cfg->mime_types.n; i++) {
        const char *it = cfg->mime_types.items[i];
        const char *eq = strchr(it, '=');
        const char *ext = it;
        if (ext[0] == '.')
            ext++;
        if (!eq || eq == ext || !eq[1] || !strchr(eq + 1, '/') || eq - ext > 32) {
            strata->config_error(sec, "mime_types", "expected EXT=TYPE, got '%s'", it);
            goto fail;
        }
        if (st_mime_add(&in->mime, ext, (size_t)(eq - ext), eq + 1, ST_MIME_USER) < 0) {
            strata->config_error(sec, "mime_types", "out of memory");
            goto fail;
        }
    }
    *out = in;
    return STRATA_OK;
fail:
    static_destroy(in);
    return STRATA_ERROR;
}

/* Each thread its own cache: lookups take no lock (see cache.h). */
static int static_thread_init(void *p, void **slot)
{
    static_inst *in = p;
    *slot = in->max_file ? st_tcache_new(in->cache_budget) : NULL;
    return STRATA_OK;   /* without memory for it the thread serves uncached */
}

static void static_thread_fini(void *p, void *slot)
{
    (void)p;
    st_tcache_free(slot);
}

STRATA_EXPORT const struct strata_plugin strata_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "static",
    .version = "1.0",
    .summary = "files under a folder, with ranges, conditionals and precompressed siblings",
    .kind = STRATA_APP,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = static_options,
    .config_size = sizeof(static_config),
    .create = static_create,
    .destroy = static_destroy,
    .thread_init = static_thread_init,
    .thread_fini = static_thread_fini,
    .handle = static_handle,
};
