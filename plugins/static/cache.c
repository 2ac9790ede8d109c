/* cache.c — see cache.h. */
#include "cache.h"
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

uint64_t st_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

st_tcache *st_tcache_new(size_t budget)
{
    st_tcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->buckets = calloc(BUCKETS, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->mask = BUCKETS - 1;
    c->lru.prev = c->lru.next = &c->lru;
    c->budget = budget;
    return c;
}

static void lru_unlink(st_centry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(st_tcache *c, st_centry *e)
{
    e->next = c->lru.next;
    e->prev = &c->lru;
    c->lru.next->prev = e;
    c->lru.next = e;
}

static void unlink_entry(st_tcache *c, st_centry *e)
{
    for (st_centry **pp = &c->buckets[e->hash & c->mask]; *pp; pp = &(*pp)->hnext)
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    lru_unlink(e);
    c->bytes -= e->cost;
    c->count--;
}

void st_tcache_free(st_tcache *c)
{
    if (!c)
        return;
    for (st_centry *e = c->lru.next, *n; e != &c->lru; e = n) {
        n = e->next;
        st_centry_free(e);
    }
    free(c->buckets);
    free(c);
}

st_centry *st_tcache_get(st_tcache *c, const char *path, size_t n, uint64_t hash)
{
    for (st_centry *e = c->buckets[hash & c->mask]; e; e = e->hnext)
        if (e->hash == hash && strncmp(e->path, path, n) == 0 && e->path[n] == '\0') {
            if (c->lru.next != e) {
                lru_unlink(e);
                lru_push_front(c, e);
            }
            return e;
        }
    return NULL;
}

int st_tcache_put(st_tcache *c, st_centry *e)
{
    if (e->cost > c->budget) {
        st_centry_free(e);
        return 0;
    }
    while (c->bytes + e->cost > c->budget && c->lru.prev != &c->lru)
        st_tcache_drop(c, c->lru.prev);
    st_centry **b = &c->buckets[e->hash & c->mask];
    e->hnext = *b;
    *b = e;
    lru_push_front(c, e);
    c->bytes += e->cost;
    c->count++;
    return 1;
}

void st_tcache_drop(st_tcache *c, st_centry *e)
{
    unlink_entry(c, e);
    st_centry_free(e);
}

st_centry *st_centry_new(const char *path, size_t pathlen, const char *file)
{
    size_t flen = strlen(file);
    st_centry *e = calloc(1, sizeof *e + pathlen + 1 + flen + 1);
    if (!e)
        return NULL;
    e->path = (char *)(e + 1);
    memcpy(e->path, path, pathlen);
    e->path[pathlen] = '\0';
    e->file = e->path + pathlen + 1;
    memcpy(e->file, file, flen + 1);
    e->hash = st_hash(path, pathlen);
    e->cost = sizeof *e + pathlen + flen + 2;
    return e;
}

void st_centry_free(st_centry *e)
{
    if (!e)
        return;
    for (int i = 0; i < ST_ENC_N; i++)
        if (e->rep[i])
            st_rep_unref(e->rep[i]);
    free(e);
}

st_rep *st_rep_new(size_t len)
{
    st_rep *r = malloc(sizeof *r + len + 1);
    if (!r)
        return NULL;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->len = len;
    r->data = (const char *)(r + 1);
    return r;
}

void st_rep_ref(st_rep *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void st_rep_unref(void *p)
{
    st_rep *r = p;
    /* release/acquire: the freeing thread must see every other thread's
     * last use finished (the usual refcount pairing) */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        free(r);
}

void st_vkey_from_stat(st_vkey *k, const struct stat *st)
{
    memset(k, 0, sizeof *k);
    k->type = st->st_mode & S_IFMT;
    k->dev = st->st_dev;
    k->ino = st->st_ino;
    k->size = st->st_size;
    k->mtim = st->st_mtim;
    k->ctim = st->st_ctim;
}

int st_vkey_equal(const st_vkey *a, const st_vkey *b)
{
    if (a->type != b->type)
        return 0;
    if (!a->type)
        return 1;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}
