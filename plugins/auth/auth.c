/*
 * auth.c — HTTP Basic authentication (RFC 7617) against an Apache
 * htpasswd file, as a strata filter.
 *
 * The request path, in order of cost:
 *   - not under `protect`, or under `exempt`: straight to next;
 *   - no or another scheme: 401 with the challenge; broken Basic: 400;
 *   - credentials whose keyed hash is in the verified cache: next. This is
 *     the common case and it takes no lock, no allocation, no syscall: one
 *     SipHash and a seqlock read of two cache slots;
 *   - otherwise the password must be checked against the file (bcrypt can
 *     take milliseconds): on the I/O thread (may_block == 0) we return
 *     STRATA_YIELD and the host runs the request again on its pool, where
 *     the check runs and, when it passes, fills the cache.
 *
 * The user table is immutable and replaced whole when the file changes
 * (looked at no more than once per `check_interval`); readers on the slow
 * path pin it with a reference count taken under a short mutex, the fast
 * path only compares the table's generation with the cache entry's.
 */
#include "strata.h"
#include "htpasswd.h"
#include "parse.h"
#include "siphash.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

STRATA_HOST_DECLARE;

/* ---- configuration -------------------------------------------------- */

struct auth_config {
    const char *htpasswd;
    const char *realm;
    strata_list protect;
    strata_list exempt;
    double cache_ttl;
    int64_t cache_size;
    const char *scheme;
    int64_t max_failures;
    double failure_window;
    double check_interval;
};

#define THROTTLE_SLOTS 1024   /* clients tracked for failures (direct-mapped) */
#define PATH_STACK 1024       /* longer request paths are joined in the arena */

/* One cache entry per cache line. `seq` is a seqlock: odd while a writer
 * fills the entry; a reader that sees it change discards what it read. */
struct cache_slot {
    _Atomic uint64_t seq;
    _Atomic uint64_t tag0, tag1;     /* SipHash-128 of "user:password"      */
    _Atomic uint64_t gen;            /* table generation it was checked with */
    _Atomic int64_t expires_ns;
} __attribute__((aligned(64)));

/* Failed checks per client; approximate under races, never unsafe. */
struct throttle_slot {
    _Atomic uint64_t client;         /* keyed hash of the address; 0 = free */
    _Atomic int64_t window_end_ns;
    _Atomic uint32_t failures;
};

struct file_sig {
    int valid;
    int settled;                     /* changed 2 s or more before we read it */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct auth {
    const strata_section *sec;
    const char *path;
    char *challenge;                 /* WWW-Authenticate value               */
    char **protect, **exempt;        /* normalized prefixes                  */
    size_t n_protect, n_exempt;
    int everything;                  /* protect "/" and no exempt            */
    uint64_t key[2];                 /* random: cache tags, client keys      */
    int64_t ttl_ns, window_ns, interval_ns;
    uint32_t max_failures;

    struct cache_slot *cache;        /* NULL when cache_ttl = 0              */
    size_t cache_mask;

    pthread_mutex_t table_lock;      /* guards the `table` pointer           */
    struct ht_table *table;
    _Atomic uint64_t gen;            /* table->gen, read on the fast path    */

    _Atomic int64_t next_check_ns;
    pthread_mutex_t reload_lock;     /* one reloader; guards the fields below */
    struct file_sig sig;
    uint64_t last_gen, digest;
    size_t n_users;
    char last_error[512];

    struct throttle_slot throttle[THROTTLE_SLOTS];
};

/* Per thread: libcrypt's work area (32 KiB), kept between checks. */
struct auth_thread {
    void *cdata;
    int csize;
};

static const strata_option auth_options[] = {
    {"htpasswd", STRATA_OPT_PATH, NULL, 1, offsetof(struct auth_config, htpasswd),
     "Apache htpasswd file: apr1 (-m), bcrypt (-B), SHA-256/512 crypt (-2/-5), {SHA} (-s)", NULL},
    {"realm", STRATA_OPT_STRING, "strata", 0, offsetof(struct auth_config, realm),
     "realm named in the browser's password prompt", NULL},
    {"protect", STRATA_OPT_LIST, "/", 0, offsetof(struct auth_config, protect),
     "URL path prefixes that need credentials", NULL},
    {"exempt", STRATA_OPT_LIST, NULL, 0, offsetof(struct auth_config, exempt),
     "URL path prefixes that never need credentials (wins over protect)", NULL},
    {"cache_ttl", STRATA_OPT_DOUBLE, "300", 0, offsetof(struct auth_config, cache_ttl),
     "seconds a checked user:password is remembered (0: check every request)", "0..86400"},
    {"cache_size", STRATA_OPT_INT, "4096", 0, offsetof(struct auth_config, cache_size),
     "entries in the verified-credentials cache", "2..16777216"},
    {"scheme", STRATA_OPT_ENUM, "basic", 0, offsetof(struct auth_config, scheme),
     "authentication scheme", "basic"},
    {"max_failures", STRATA_OPT_INT, "10", 0, offsetof(struct auth_config, max_failures),
     "failed checks per client within failure_window before 429 (0: no limit)", "0..1000000"},
    {"failure_window", STRATA_OPT_DOUBLE, "60", 0, offsetof(struct auth_config, failure_window),
     "seconds over which failed checks are counted", "0.001..86400"},
    {"check_interval", STRATA_OPT_DOUBLE, "1", 0, offsetof(struct auth_config, check_interval),
     "seconds between checks of the htpasswd file for changes", "0..3600"},
    STRATA_OPTIONS_END,
};

/* ---- the user table ------------------------------------------------- */

static struct ht_table *table_acquire(struct auth *a)
{
    pthread_mutex_lock(&a->table_lock);
    struct ht_table *t = a->table;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&a->table_lock);
    return t;
}

static void table_release(struct ht_table *t)
{
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        ht_free(t);
}

static void table_publish(struct auth *a, struct ht_table *t)
{
    pthread_mutex_lock(&a->table_lock);
    struct ht_table *old = a->table;
    a->table = t;
    atomic_store_explicit(&a->gen, t->gen, memory_order_release);
    pthread_mutex_unlock(&a->table_lock);
    if (old)
        table_release(old);
}

static int same_sig(const struct file_sig *s, const struct stat *st)
{
    return s->valid && s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size &&
           s->mtime.tv_sec == st->st_mtim.tv_sec && s->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           s->ctime.tv_sec == st->st_ctim.tv_sec && s->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Whether the file was changed less than 2 s ago. htpasswd rewrites the
 * file in place (truncate, then write), so such a file may change again
 * within one timestamp tick without its stat changing. */
static int recent(const struct stat *st)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec - st->st_mtim.tv_sec < 2 || now.tv_sec - st->st_ctim.tv_sec < 2;
}

static void remember_sig(struct auth *a, const struct stat *st)
{
    a->sig = (struct file_sig){
        .valid = 1, .settled = !recent(st),
        .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
        .mtime = st->st_mtim, .ctime = st->st_ctim,
    };
}

/* Under reload_lock. A failure keeps the table in use and is logged once
 * until the reason changes or a load succeeds. Returns 1 when the file
 * changed but `may_read` is 0: the caller yields, the pool reads it. */
static int reload(struct auth *a, int may_read)
{
    struct stat st;
    char err[sizeof a->last_error];
    struct ht_table *t = NULL;
    if (stat(a->path, &st) < 0) {
        snprintf(err, sizeof err, "cannot stat '%s': %s", a->path, strerror(errno));
    } else if (same_sig(&a->sig, &st) && (a->sig.settled || !may_read)) {
        return 0;   /* unchanged; a recent file is read again on the pool */
    } else if (!may_read) {
        return 1;
    } else if ((t = ht_load(a->path, &st, err, sizeof err))) {
        a->last_error[0] = '\0';
        if (t->n == 0 && a->n_users > 0 && recent(&st)) {
            ht_free(t);   /* likely mid-rewrite: look again at the next check */
            return 0;
        }
        remember_sig(a, &st);
        if (t->digest == a->digest) {
            ht_free(t);   /* same text: keep the table and the cache */
            return 0;
        }
        t->gen = ++a->last_gen;
        a->digest = t->digest;
        a->n_users = t->n;
        size_t n = t->n;
        table_publish(a, t);
        strata->log(a->sec, STRATA_LOG_INFO, "reloaded '%s': %zu user%s", a->path, n,
                    n == 1 ? "" : "s");
        return 0;
    }
    if (strcmp(err, a->last_error) != 0) {
        strata->log(a->sec, STRATA_LOG_WARN, "%s; keeping the last good copy (%zu user%s)", err,
                    a->n_users, a->n_users == 1 ? "" : "s");
        memcpy(a->last_error, err, sizeof err);
    }
    return 0;
}

/* At most once per check_interval, by whichever thread gets there first.
 * The I/O thread only stats the file; reading it is left to the pool.
 * Returns 1 when the caller must yield for that. */
static int maybe_reload(struct auth *a, int64_t now, int may_read)
{
    int64_t next = atomic_load_explicit(&a->next_check_ns, memory_order_relaxed);
    if (now < next)
        return 0;
    if (!atomic_compare_exchange_strong_explicit(&a->next_check_ns, &next, now + a->interval_ns,
                                                 memory_order_relaxed, memory_order_relaxed))
        return 0;
    if (pthread_mutex_trylock(&a->reload_lock) != 0)
        return 0;
    int changed = reload(a, may_read);
    pthread_mutex_unlock(&a->reload_lock);
    if (changed)   /* due again at once: the re-run on the pool reads it */
        atomic_store_explicit(&a->next_check_ns, 0, memory_order_relaxed);
    return changed;
}

/* ---- the verified-credentials cache ---------------------------------- */

static struct cache_slot *cache_pair(struct auth *a, const uint64_t tag[2])
{
    return &a->cache[tag[0] & a->cache_mask & ~(size_t)1];
}

static int cache_hit(struct auth *a, const uint64_t tag[2], int64_t now)
{
    if (!a->cache)
        return 0;
    uint64_t gen = atomic_load_explicit(&a->gen, memory_order_acquire);
    struct cache_slot *s = cache_pair(a, tag);
    for (int i = 0; i < 2; i++, s++) {
        /* acquire loads keep the second read of seq after the fields (and
         * cost nothing more than plain loads on x86) */
        uint64_t q = atomic_load_explicit(&s->seq, memory_order_acquire);
        uint64_t t0 = atomic_load_explicit(&s->tag0, memory_order_acquire);
        uint64_t t1 = atomic_load_explicit(&s->tag1, memory_order_acquire);
        uint64_t g = atomic_load_explicit(&s->gen, memory_order_acquire);
        int64_t e = atomic_load_explicit(&s->expires_ns, memory_order_acquire);
        if ((q & 1) || atomic_load_explicit(&s->seq, memory_order_relaxed) != q)
            continue;
        if (((t0 ^ tag[0]) | (t1 ^ tag[1])) == 0 && g == gen && now < e)
            return 1;
    }
    return 0;
}

static void cache_put(struct auth *a, const uint64_t tag[2], uint64_t gen, int64_t now)
{
    if (!a->cache)
        return;
    struct cache_slot *s = cache_pair(a, tag);
    /* the slot holding these credentials already, else the one that
     * expires first (an empty slot expires at 0) */
    int same1 = atomic_load_explicit(&s[1].tag0, memory_order_relaxed) == tag[0] &&
                atomic_load_explicit(&s[1].tag1, memory_order_relaxed) == tag[1];
    int same0 = atomic_load_explicit(&s[0].tag0, memory_order_relaxed) == tag[0] &&
                atomic_load_explicit(&s[0].tag1, memory_order_relaxed) == tag[1];
    if (same1 || (!same0 && atomic_load_explicit(&s[1].expires_ns, memory_order_relaxed) <
                                atomic_load_explicit(&s[0].expires_ns, memory_order_relaxed)))
        s++;
    uint64_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    if ((q & 1) || !atomic_compare_exchange_strong_explicit(&s->seq, &q, q + 1,
                                                            memory_order_acquire,
                                                            memory_order_relaxed))
        return;   /* another writer is here: this is only a cache */
    /* release stores: a reader that sees any new field also sees seq odd */
    atomic_store_explicit(&s->tag0, tag[0], memory_order_release);
    atomic_store_explicit(&s->tag1, tag[1], memory_order_release);
    atomic_store_explicit(&s->gen, gen, memory_order_release);
    atomic_store_explicit(&s->expires_ns, now + a->ttl_ns, memory_order_release);
    atomic_store_explicit(&s->seq, q + 2, memory_order_release);
}

/* ---- throttling ------------------------------------------------------ */

static uint64_t client_key(struct auth *a, const char *client)
{
    return siphash64(a->key, client, strlen(client)) | 1;
}

/* Nanoseconds the client must still wait, or 0. */
static int64_t throttled_for(struct auth *a, uint64_t ck, int64_t now)
{
    if (!a->max_failures)
        return 0;
    struct throttle_slot *s = &a->throttle[ck % THROTTLE_SLOTS];
    if (atomic_load_explicit(&s->client, memory_order_relaxed) != ck)
        return 0;
    int64_t end = atomic_load_explicit(&s->window_end_ns, memory_order_relaxed);
    if (now >= end || atomic_load_explicit(&s->failures, memory_order_relaxed) < a->max_failures)
        return 0;
    return end - now;
}

/* Counts a failure; returns the count in the client's current window. */
static uint32_t note_failure(struct auth *a, uint64_t ck, int64_t now)
{
    if (!a->max_failures)
        return 0;
    struct throttle_slot *s = &a->throttle[ck % THROTTLE_SLOTS];
    if (atomic_load_explicit(&s->client, memory_order_relaxed) != ck ||
        atomic_load_explicit(&s->window_end_ns, memory_order_relaxed) <= now) {
        atomic_store_explicit(&s->failures, 0, memory_order_relaxed);
        atomic_store_explicit(&s->window_end_ns, now + a->window_ns, memory_order_relaxed);
        atomic_store_explicit(&s->client, ck, memory_order_relaxed);
    }
    return atomic_fetch_add_explicit(&s->failures, 1, memory_order_relaxed) + 1;
}

/* ---- create / destroy ------------------------------------------------ */

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int prefixes(const strata_section *sec, const char *key, const strata_list *in,
                    char ***out, size_t *n)
{
    *n = 0;
    *out = calloc(in->n + 1, sizeof **out);
    if (!*out)
        return STRATA_ERROR;
    for (size_t i = 0; i < in->n; i++) {
        size_t cap = strlen(in->items[i]) + 3;
        char *p = malloc(cap);
        if (!p)
            return STRATA_ERROR;
        if (path_normalize("", in->items[i], p, cap) < 0) {
            strata->config_error(sec, key, "'%s' climbs above '/'", in->items[i]);
            free(p);
            return STRATA_ERROR;
        }
        (*out)[(*n)++] = p;
    }
    return STRATA_OK;
}

static char *make_challenge(const char *realm)
{
    /* quoted-string: escape '"' and '\' */
    size_t n = strlen(realm);
    char *c = malloc(2 * n + 48), *o = c;
    if (!c)
        return NULL;
    o += sprintf(o, "Basic realm=\"");
    for (const char *p = realm; *p; p++) {
        if (*p == '"' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    strcpy(o, "\", charset=\"UTF-8\"");
    return c;
}

static void auth_destroy(void *inst)
{
    struct auth *a = inst;
    if (!a)
        return;
    if (a->table)
        table_release(a->table);
    free(a->cache);
    free_list(a->protect, a->n_protect);
    free_list(a->exempt, a->n_exempt);
    free(a->challenge);
    pthread_mutex_destroy(&a->table_lock);
    pthread_mutex_destroy(&a->reload_lock);
    free(a);
}

static int auth_create(const strata_section *sec, const void *config, void **inst)
{
    const struct auth_config *cfg = config;
    struct auth *a = calloc(1, sizeof *a);
    if (!a)
        return STRATA_ERROR;
    a->sec = sec;
    a->path = cfg->htpasswd;
    pthread_mutex_init(&a->table_lock, NULL);
    pthread_mutex_init(&a->reload_lock, NULL);

    for (const unsigned char *p = (const unsigned char *)cfg->realm; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            strata->config_error(sec, "realm", "control character in '%s'", cfg->realm);
            goto fail;
        }
    if (!(a->challenge = make_challenge(cfg->realm)))
        goto fail;
    if (prefixes(sec, "protect", &cfg->protect, &a->protect, &a->n_protect) != STRATA_OK ||
        prefixes(sec, "exempt", &cfg->exempt, &a->exempt, &a->n_exempt) != STRATA_OK)
        goto fail;
    for (size_t i = 0; i < a->n_protect; i++)
        if (strcmp(a->protect[i], "/") == 0)
            a->everything = a->n_exempt == 0;

    if (getrandom(a->key, sizeof a->key, 0) != (ssize_t)sizeof a->key) {
        strata->config_error(sec, "cache_ttl", "cannot get a random cache key: %s",
                             strerror(errno));
        goto fail;
    }

    char err[sizeof a->last_error];
    struct stat st;
    struct ht_table *t = ht_load(a->path, &st, err, sizeof err);
    if (!t) {
        strata->config_error(sec, "htpasswd", "%s", err);
        goto fail;
    }
    t->gen = a->last_gen = 1;
    a->table = t;
    a->digest = t->digest;
    a->n_users = t->n;
    atomic_init(&a->gen, t->gen);
    remember_sig(a, &st);
    if (t->n == 0)
        strata->log(sec, STRATA_LOG_WARN, "'%s' has no users: every protected request gets 401",
                    a->path);

    a->ttl_ns = (int64_t)(cfg->cache_ttl * 1e9);
    a->window_ns = (int64_t)(cfg->failure_window * 1e9);
    a->interval_ns = (int64_t)(cfg->check_interval * 1e9);
    a->max_failures = (uint32_t)cfg->max_failures;
    if (a->ttl_ns > 0) {
        size_t n = 2;
        while (n < (size_t)cfg->cache_size)
            n <<= 1;
        if (!(a->cache = aligned_alloc(sizeof(struct cache_slot), n * sizeof *a->cache)))
            goto fail;
        memset(a->cache, 0, n * sizeof *a->cache);
        a->cache_mask = n - 1;
    }
    atomic_init(&a->next_check_ns, strata->now_ns() + a->interval_ns);
    if (strata->watch_file)
        strata->watch_file(sec, a->path);
    *inst = a;
    return STRATA_OK;
fail:
    auth_destroy(a);
    return STRATA_ERROR;
}

static int auth_thread_init(void *inst, void **slot)
{
    *slot = calloc(1, sizeof(struct auth_thread));
    return *slot ? STRATA_OK : STRATA_ERROR;
}

static void auth_thread_fini(void *inst, void *slot)
{
    struct auth_thread *t = slot;
    if (t)
        free(t->cdata);
    free(t);
}

/* ---- the request ----------------------------------------------------- */

static int needs_auth(struct auth *a, strata_request *req)
{
    const char *mount = strata->script_name(req), *path = strata->path(req);
    mount = mount ? mount : "";
    path = path ? path : "";
    size_t need = strlen(mount) + strlen(path) + 2;
    char stackbuf[PATH_STACK];
    char *p = need <= sizeof stackbuf ? stackbuf : strata->alloc(req, need);
    if (!p || path_normalize(mount, path, p, need) < 0)
        return 1;   /* climbs above "/": protect it, whatever it is */
    for (size_t i = 0; i < a->n_exempt; i++)
        if (path_under(p, a->exempt[i]))
            return 0;
    for (size_t i = 0; i < a->n_protect; i++)
        if (path_under(p, a->protect[i]))
            return 1;
    return 0;
}

static int challenge(struct auth *a, strata_request *req)
{
    static const char body[] = "401 Unauthorized\n";
    if (strata->respond(req, 401, "text/plain; charset=utf-8", body, sizeof body - 1) != STRATA_OK)
        return STRATA_ERROR;
    return strata->set_header(req, "WWW-Authenticate", a->challenge);
}

static int too_many(strata_request *req, int64_t wait_ns)
{
    static const char body[] = "429 Too Many Requests\n";
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", (long long)((wait_ns + 999999999) / 1000000000));
    if (strata->respond(req, 429, "text/plain; charset=utf-8", body, sizeof body - 1) != STRATA_OK)
        return STRATA_ERROR;
    return strata->set_header(req, "Retry-After", secs);
}

/* The slow path: check the password against the file. 1 when it matches;
 * 0 when it does not (and the failure is counted and logged). */
static int check_password(struct auth *a, strata_request *req, const char *user,
                          const char *password, const uint64_t tag[2], uint64_t ck, int64_t now)
{
    struct auth_thread *th = strata->thread_data(req);
    struct auth_thread local = {0};
    if (!th)
        th = &local;

    struct ht_table *t = table_acquire(a);
    const struct ht_user *u = ht_find(t, user);
    /* an unknown user is checked against another hash from the file, so
     * that answering "no such user" takes about as long as a wrong password */
    int ok = ht_verify(password, u ? u->hash : t->dummy, u ? u->scheme : t->dummy_scheme,
                       &th->cdata, &th->csize) && u;
    uint64_t gen = t->gen;
    table_release(t);
    free(local.cdata);

    if (ok) {
        cache_put(a, tag, gen, now);
        return 1;
    }
    uint32_t n = note_failure(a, ck, now);
    char who[4 * 64 + 1];
    log_escape(user, 64, who, sizeof who);
    const char *client = strata->client(req);
    strata->log(a->sec, STRATA_LOG_WARN, "authentication failed for user \"%s\" from %s: %s", who,
                client ? client : "-", u ? "wrong password" : "unknown user");
    if (a->max_failures && n == a->max_failures)
        strata->log(a->sec, STRATA_LOG_WARN,
                    "%s: %u failed attempts; answering 429 until its %.0f s window ends",
                    client ? client : "-", n, (double)a->window_ns / 1e9);
    return 0;
}

static int auth_handle(void *inst, strata_request *req)
{
    struct auth *a = inst;
    if (!a->everything && !needs_auth(a, req))
        return strata->next(req);

    /* the arrival time the host read: no clock read per request (a queued
     * request judges reload and cache age by a time up to its wait older) */
    int64_t now = strata->start_ns(req);
    if (now <= 0)
        now = strata->now_ns();
    if (maybe_reload(a, now, strata->may_block(req)))
        return STRATA_YIELD;

    const char *value = strata->header(req, "Authorization");
    char cred[CRED_MAX + 1];
    size_t len = 0, colon = 0;
    int rc = value ? cred_parse_basic(value, cred, &len, &colon) : CRED_NONE;
    if (rc == CRED_NONE)
        return challenge(a, req);
    if (rc == CRED_MALFORMED) {
        static const char body[] = "400 Bad Request: malformed Authorization header\n";
        explicit_bzero(cred, sizeof cred);   /* it may hold a password */
        return strata->respond(req, 400, "text/plain; charset=utf-8", body, sizeof body - 1);
    }

    uint64_t tag[2];
    siphash128(a->key, cred, len, tag);
    cred[colon] = '\0';
    cred[len] = '\0';
    const char *user = cred, *password = cred + colon + 1;

    int ok = cache_hit(a, tag, now);
    if (!ok) {
        const char *client = strata->client(req);
        uint64_t ck = client_key(a, client ? client : "-");
        int64_t wait = throttled_for(a, ck, now);
        if (wait > 0)
            rc = too_many(req, wait);
        else if (!strata->may_block(req))
            rc = STRATA_YIELD;   /* the host runs us again on the pool */
        else if (!check_password(a, req, user, password, tag, ck, now))
            rc = challenge(a, req);
        else
            ok = 1;
    }
    explicit_bzero(cred + colon, len + 1 - colon);
    if (!ok)
        return rc;
    if (strata->var_set(req, STRATA_VAR_USER, user) != STRATA_OK)
        return STRATA_ERROR;
    return strata->next(req);
}

/* ---- descriptor ------------------------------------------------------ */

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "auth",
    .version = "1.0",
    .summary = "HTTP Basic authentication against an Apache htpasswd file",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = auth_options,
    .config_size = sizeof(struct auth_config),
    .create = auth_create,
    .destroy = auth_destroy,
    .thread_init = auth_thread_init,
    .thread_fini = auth_thread_fini,
    .handle = auth_handle,
};
