/* core.c — name tables, per-thread slots, recording and the merged view.
 * No strata host calls here (the host table is profiling.c's). */
#include "prof.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELAXED memory_order_relaxed
#define LOAD(x) atomic_load_explicit(&(x), RELAXED)
#define STORE(x, v) atomic_store_explicit(&(x), (v), RELAXED)
#define BUMP(x, d) STORE(x, LOAD(x) + (d))

/* ---- names ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static unsigned memo_slot(const void *a, const void *b)
{
    uint64_t k = ((uint64_t)(uintptr_t)a ^ ((uint64_t)(uintptr_t)b << 7)) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(k >> 60) & (PROF_MEMO - 1);
}

int names_init(struct names *t, int cap)
{
    memset(t, 0, sizeof *t);
    unsigned slots = 16;
    while (slots < (unsigned)cap * 2)
        slots *= 2;
    t->cap = cap;
    t->mask = slots - 1;
    t->slots = calloc(slots, sizeof *t->slots);
    t->e = calloc((size_t)cap, sizeof *t->e);
    if (!t->slots || !t->e) {
        free(t->slots);
        free(t->e);
        return -1;
    }
    pthread_mutex_init(&t->lock, NULL);
    return 0;
}

void names_fini(struct names *t)
{
    if (!t->e)
        return;
    int n = atomic_load(&t->n);
    for (int i = 0; i < n; i++) {
        free(t->e[i].key);
        free(t->e[i].a);
        free(t->e[i].b);
        free(t->e[i].pre);
        free(t->e[i].suf);
    }
    free(t->e);
    free(t->slots);
    pthread_mutex_destroy(&t->lock);
    t->e = NULL;
}

/* Lock-free probe: the id, or -1 when absent. Slots are published with
 * release after their entry is complete. */
static int names_find(struct names *t, const char *key, uint32_t h)
{
    for (unsigned i = h & t->mask;; i = (i + 1) & t->mask) {
        int s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (s == 0)
            return -1;
        const struct name *e = &t->e[s - 1];
        if (e->hash == h && strcmp(e->key, key) == 0)
            return s - 1;
    }
}

static void fragments_make(struct name *e);

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

int names_id(struct names *t, const char *key, const char *a, const char *b)
{
    uint32_t h = fnv1a(key);
    int id = names_find(t, key, h);
    if (id >= 0)
        return id;
    if (atomic_load_explicit(&t->n, memory_order_acquire) >= t->cap)
        return t->cap;
    pthread_mutex_lock(&t->lock);
    id = names_find(t, key, h);
    if (id < 0) {
        int n = atomic_load_explicit(&t->n, RELAXED);
        id = t->cap;
        if (n < t->cap) {
            struct name *e = &t->e[n];
            e->hash = h;
            e->key = strdup(key);
            e->a = dup_or_empty(a);
            e->b = dup_or_empty(b);
            if (t->fragments && e->key)
                fragments_make(e);
            if (e->key && e->a && e->b) {
                unsigned i = h & t->mask;
                while (atomic_load_explicit(&t->slots[i], RELAXED))
                    i = (i + 1) & t->mask;
                atomic_store_explicit(&t->n, n + 1, memory_order_release);
                atomic_store_explicit(&t->slots[i], n + 1, memory_order_release);
                id = n;
            } else {
                free(e->key);
                free(e->a);
                free(e->b);
                free(e->pre);
                free(e->suf);
                memset(e, 0, sizeof *e);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return id;
}

/* ---- the instance and its thread slots ---- */

int prof_init(struct prof *p, int max_routes)
{
    if (names_init(&p->stages, PROF_MAX_STAGES))
        return -1;
    p->stages.fragments = 1;
    if (names_init(&p->routes, max_routes)) {
        names_fini(&p->stages);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->threads = NULL;
    atomic_init(&p->epoch, 0);
    atomic_init(&p->since_unix_us, 0);
    return 0;
}

static void thread_free(struct prof *p, struct prof_thread *t)
{
    for (int i = 0; i <= PROF_MAX_STAGES && t->stage; i++)
        free(atomic_load(&t->stage[i]));
    for (int i = 0; i <= p->routes.cap && t->route; i++) {
        free(atomic_load(&t->route[i]));
        free(atomic_load(&t->cells[i]));
    }
    free(t->stage);
    free(t->route);
    free(t->cells);
    free(t);
}

void prof_fini(struct prof *p)
{
    struct prof_thread *t = p->threads, *nx;
    for (; t; t = nx) {
        nx = t->next;
        thread_free(p, t);
    }
    p->threads = NULL;
    pthread_mutex_destroy(&p->lock);
    names_fini(&p->routes);
    names_fini(&p->stages);
}

struct prof_thread *prof_thread_new(struct prof *p)
{
    struct prof_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t nr = (size_t)p->routes.cap + 1;
    t->stage = calloc(PROF_MAX_STAGES + 1, sizeof *t->stage);
    t->route = calloc(nr, sizeof *t->route);
    t->cells = calloc(nr, sizeof *t->cells);
    if (!t->stage || !t->route || !t->cells) {
        thread_free(p, t);
        return NULL;
    }
    /* Seed the sampler from the slot's address and the time: threads
     * need different sequences, not good randomness. */
    t->rng = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
    if (!t->rng)
        t->rng = 1;
    atomic_init(&t->epoch, atomic_load(&p->epoch));
    pthread_mutex_lock(&p->lock);
    t->next = p->threads;
    p->threads = t;
    pthread_mutex_unlock(&p->lock);
    return t;
}

/* A writer's own zeroing after a reset: readers skip the slot until its
 * epoch matches again. */
static void thread_clear(struct prof *p, struct prof_thread *t, unsigned epoch)
{
    for (int i = 0; i <= PROF_MAX_STAGES; i++) {
        hist *h = atomic_load_explicit(&t->stage[i], RELAXED);
        if (h)
            hist_clear(h);
    }
    for (int i = 0; i <= p->routes.cap; i++) {
        hist *h = atomic_load_explicit(&t->route[i], RELAXED);
        if (h)
            hist_clear(h);
        struct cell *c = atomic_load_explicit(&t->cells[i], RELAXED);
        for (int j = 0; c && j <= PROF_MAX_STAGES; j++) {
            STORE(c[j].n, 0);
            STORE(c[j].self_ns, 0);
            STORE(c[j].cpu_ns, 0);
        }
    }
    atomic_store_explicit(&t->epoch, epoch, memory_order_release);
}

static hist *slot_hist(_Atomic(hist *) *slot)
{
    hist *h = atomic_load_explicit(slot, RELAXED);
    if (!h) {
        h = calloc(1, sizeof *h);
        if (h)
            atomic_store_explicit(slot, h, memory_order_release);
    }
    return h;
}

static struct cell *slot_cells(_Atomic(struct cell *) *slot)
{
    struct cell *c = atomic_load_explicit(slot, RELAXED);
    if (!c) {
        c = calloc(PROF_MAX_STAGES + 1, sizeof *c);
        if (c)
            atomic_store_explicit(slot, c, memory_order_release);
    }
    return c;
}

static const char *method_class(const char *m)
{
    static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
                                         "PATCH", "OPTIONS" };
    for (size_t i = 0; m && i < sizeof known / sizeof *known; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "OTHER";
}

void prof_record(struct prof *p, struct prof_thread *t, const char *method, const char *route,
                 int status, int64_t total_ns, const struct prof_stage *st, int n)
{
    unsigned epoch = atomic_load_explicit(&p->epoch, memory_order_acquire);
    if (atomic_load_explicit(&t->epoch, RELAXED) != epoch)
        thread_clear(p, t, epoch);
    int err = status >= 500;
    const char *m = method_class(method);
    if (!route || !*route)
        route = "/";
    unsigned ms = memo_slot(route, m);
    int rid = t->route_memo[ms].id;
    if (t->route_memo[ms].route != route || t->route_memo[ms].method != m ||
        strcmp(p->routes.e[rid].b, route) != 0) {
        char key[256];
        size_t ml = strlen(m), rl = strlen(route);
        rid = p->routes.cap;
        if (ml + 1 + rl < sizeof key) {
            memcpy(key, m, ml);
            key[ml] = ' ';
            memcpy(key + ml + 1, route, rl + 1);
            rid = names_id(&p->routes, key, m, route);
        }
        /* only named routes: "other" has no text to check a hit against */
        if (rid < p->routes.cap) {
            t->route_memo[ms].route = route;
            t->route_memo[ms].method = m;
            t->route_memo[ms].id = rid;
        }
    }
    struct cell *cells = slot_cells(&t->cells[rid]);
    int64_t cpu = 0;
    for (int i = 0; i < n; i++) {
        int sid = st[i].id1 > 0 ? st[i].id1 - 1
                                : names_id(&p->stages, st[i].section ? st[i].section : "?",
                                           st[i].section, st[i].plugin);
        hist *h = slot_hist(&t->stage[sid]);
        uint64_t self = st[i].self_ns > 0 ? (uint64_t)st[i].self_ns : 0;
        uint64_t c = st[i].cpu_ns > 0 ? (uint64_t)st[i].cpu_ns : 0;
        if (h)
            hist_record(h, self, c, err);
        if (cells) {
            BUMP(cells[sid].n, 1);
            BUMP(cells[sid].self_ns, self);
            BUMP(cells[sid].cpu_ns, c);
        }
        cpu += (int64_t)c;
    }
    hist *rh = slot_hist(&t->route[rid]);
    if (rh)
        hist_record(rh, total_ns > 0 ? (uint64_t)total_ns : 0, (uint64_t)cpu, err);
}

void prof_reset(struct prof *p, int64_t now_unix_us)
{
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->since_unix_us, now_unix_us);
    atomic_fetch_add(&p->epoch, 1);
    pthread_mutex_unlock(&p->lock);
}

/* ---- the merged view ---- */

static int route_cmp(const void *a, const void *b)
{
    const struct route_view *x = a, *y = b;
    if (x->h.count != y->h.count)
        return x->h.count < y->h.count ? 1 : -1;
    int c = strcmp(x->route, y->route);
    return c ? c : strcmp(x->method, y->method);
}

int prof_view_make(struct prof *p, struct prof_view *v)
{
    memset(v, 0, sizeof *v);
    int ns = atomic_load_explicit(&p->stages.n, memory_order_acquire);
    int nr = atomic_load_explicit(&p->routes.n, memory_order_acquire);
    /* +1 each for the "other" buckets. */
    v->stages = calloc((size_t)ns + 1, sizeof *v->stages);
    v->routes = calloc((size_t)nr + 1, sizeof *v->routes);
    if (!v->stages || !v->routes)
        goto oom;
    for (int r = 0; r <= nr; r++) {
        v->routes[r].cells = calloc((size_t)ns + 1, sizeof *v->routes[r].cells);
        if (!v->routes[r].cells)
            goto oom;
    }
    pthread_mutex_lock(&p->lock);
    unsigned epoch = atomic_load(&p->epoch);
    v->since_unix_us = atomic_load(&p->since_unix_us);
    for (struct prof_thread *t = p->threads; t; t = t->next) {
        if (atomic_load_explicit(&t->epoch, memory_order_acquire) != epoch)
            continue;
        for (int s = 0; s <= ns; s++) {
            int sid = s == ns ? PROF_MAX_STAGES : s;
            hist *h = atomic_load_explicit(&t->stage[sid], memory_order_acquire);
            if (h)
                hist_merge(&v->stages[s].h, h);
        }
        for (int r = 0; r <= nr; r++) {
            int rid = r == nr ? p->routes.cap : r;
            hist *h = atomic_load_explicit(&t->route[rid], memory_order_acquire);
            if (h)
                hist_merge(&v->routes[r].h, h);
            struct cell *c = atomic_load_explicit(&t->cells[rid], memory_order_acquire);
            for (int s = 0; c && s <= ns; s++) {
                int sid = s == ns ? PROF_MAX_STAGES : s;
                v->routes[r].cells[s].n += LOAD(c[sid].n);
                v->routes[r].cells[s].self_ns += LOAD(c[sid].self_ns);
                v->routes[r].cells[s].cpu_ns += LOAD(c[sid].cpu_ns);
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    /* Names: entries below n are complete (published with release). */
    for (int s = 0; s < ns; s++) {
        v->stages[s].section = p->stages.e[s].a;
        v->stages[s].plugin = p->stages.e[s].b;
    }
    v->stages[ns].section = "other";
    v->stages[ns].plugin = "";
    v->n_stages = ns + 1;
    for (int r = 0; r < nr; r++) {
        v->routes[r].method = p->routes.e[r].a;
        v->routes[r].route = p->routes.e[r].b;
    }
    v->routes[nr].method = "*";
    v->routes[nr].route = "other";
    v->n_routes = nr + 1;
    /* Drop what saw no request (the "other" buckets, mostly). */
    int k = 0;
    for (int r = 0; r < v->n_routes; r++) {
        if (v->routes[r].h.count == 0) {
            free(v->routes[r].cells);
            continue;
        }
        v->routes[k++] = v->routes[r];
    }
    v->n_routes = k;
    qsort(v->routes, (size_t)v->n_routes, sizeof *v->routes, route_cmp);
    if (v->stages[ns].h.count == 0)
        v->n_stages = ns;   /* cells keep ns + 1 columns; renderers use n_stages */
    return 0;
oom:
    if (v->routes)
        for (int r = 0; r <= nr; r++)
            free(v->routes[r].cells);
    free(v->stages);
    free(v->routes);
    memset(v, 0, sizeof *v);
    return -1;
}

void prof_view_free(struct prof_view *v)
{
    for (int r = 0; r < v->n_routes; r++)
        free(v->routes[r].cells);
    free(v->routes);
    free(v->stages);
    memset(v, 0, sizeof *v);
}

/* ---- Server-Timing ---- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

void prof_token(char *out, size_t cap, const char *name)
{
    size_t k = 0;
    for (const unsigned char *s = (const unsigned char *)name; s && *s && k + 1 < cap; s++)
        out[k++] = is_tchar(*s) ? (char)*s : '-';
    if (k == 0 && cap > 5)
        k = (size_t)snprintf(out, cap, "stage");
    if (cap)
        out[k < cap ? k : cap - 1] = '\0';
}

/* A bounded writer: printf with floating point cost thousands of
 * instructions per request here, so numbers are formatted by hand. */
struct out {
    char *p;
    size_t k, cap;
    int full;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->k + n >= o->cap) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->k, s, n);
    o->k += n;
}

/* Nanoseconds as milliseconds with three decimals: 1234567 -> "1.235". */
static void out_ms(struct out *o, int64_t ns)
{
    uint64_t us = ns > 0 ? ((uint64_t)ns + 500) / 1000 : 0;
    uint64_t ip = us / 1000;
    unsigned frac = (unsigned)(us - ip * 1000);
    char tmp[32];
    char *e = tmp + sizeof tmp, *p = e;
    *--p = (char)('0' + frac % 10);
    *--p = (char)('0' + frac / 10 % 10);
    *--p = (char)('0' + frac / 100);
    *--p = '.';
    do {
        *--p = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    out_put(o, p, (size_t)(e - p));
}

/* "app:static" -> pre "app-static;dur=", suf ";desc=\"[app:static]\", ":
 * the quoted-string keeps printable ASCII, with \ and " escaped. */
static void fragments_make(struct name *e)
{
    size_t n = strlen(e->key);
    char tok[96];
    prof_token(tok, sizeof tok, e->key);
    e->pre = malloc(strlen(tok) + 6);
    e->suf = malloc(2 * n + 16);
    if (!e->pre || !e->suf) {
        free(e->pre);
        free(e->suf);
        e->pre = e->suf = NULL;
        return;
    }
    memcpy(e->pre, tok, strlen(tok));
    memcpy(e->pre + strlen(tok), ";dur=", 6);
    e->pre_len = strlen(tok) + 5;
    char *o = e->suf;
    o += sprintf(o, ";desc=\"[");
    for (const unsigned char *c = (const unsigned char *)e->key; *c; c++) {
        if (*c == '"' || *c == '\\')
            *o++ = '\\';
        *o++ = *c >= 0x20 && *c < 0x7f ? (char)*c : '?';
    }
    memcpy(o, "]\", ", 5);
    e->suf_len = (size_t)(o - e->suf) + 4;
}

void prof_stage_resolve(struct prof *p, struct prof_thread *t, struct prof_stage *st)
{
    int id;
    unsigned m = memo_slot(st->section, NULL);
    if (t && st->section && t->stage_memo[m].section == st->section) {
        id = t->stage_memo[m].id;
    } else {
        id = names_id(&p->stages, st->section ? st->section : "?", st->section, st->plugin);
        if (t && st->section) {
            t->stage_memo[m].section = st->section;
            t->stage_memo[m].id = id;
        }
    }
    st->id1 = id + 1;
    if (id < p->stages.cap) {
        const struct name *e = &p->stages.e[id];
        st->pre = e->pre;
        st->suf = e->suf;
        st->pre_len = e->pre_len;
        st->suf_len = e->suf_len;
    }
}

size_t prof_server_timing(char *buf, size_t cap, const struct prof_stage *st, int n,
                          int64_t total_ns, int64_t cpu_ns)
{
    struct out o = { buf, 0, cap, 0 };
    for (int i = 0; i < n; i++) {
        if (st[i].pre && st[i].suf) {
            out_put(&o, st[i].pre, st[i].pre_len);
            out_ms(&o, st[i].self_ns);
            out_put(&o, st[i].suf, st[i].suf_len);
            continue;
        }
        struct name e = { .key = (char *)(st[i].section ? st[i].section : "") };
        fragments_make(&e);
        if (!e.pre)
            return 0;
        out_put(&o, e.pre, e.pre_len);
        out_ms(&o, st[i].self_ns);
        out_put(&o, e.suf, e.suf_len);
        free(e.pre);
        free(e.suf);
    }
    if (cpu_ns > 0) {
        static const char desc[] = ";desc=\"downstream CPU\", ";
        out_put(&o, "cpu;dur=", 8);
        out_ms(&o, cpu_ns);
        out_put(&o, desc, sizeof desc - 1);
    }
    out_put(&o, "total;dur=", 10);
    out_ms(&o, total_ns);
    if (o.full || !cap)
        return 0;
    buf[o.k] = '\0';
    return o.k;
}
