/* cache.h — the static plugin's small-file cache, one per thread.
 *
 * A thread's table is touched by that thread only, so lookups take no
 * lock and no atomic beyond the reference count of what a response holds.
 * What the table stores is split in two:
 *
 *  - st_rep: one representation of a file (the file, or its .gz or .br
 *    sibling): its bytes and its precomputed ETag/Last-Modified. Immutable
 *    once built and reference-counted with atomics, because a response
 *    that carries it (set_body_ref) may be released on another thread.
 *  - st_centry: the thread's record for one request path: the reps, the
 *    stat keys that prove them current, when they were last checked, and
 *    its place in the hash chain and the LRU list. Owned by the thread.
 */
#ifndef STATIC_CACHE_H
#define STATIC_CACHE_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum { ST_ENC_IDENTITY = 0, ST_ENC_GZIP = 1, ST_ENC_BR = 2, ST_ENC_N = 3 };

/* What proves a file unchanged: a rename, a write, a truncate, a chmod or
 * a touch each change at least one of these. A folder's mtime changes when
 * a name is added or removed in it. */
typedef struct st_vkey {
    unsigned type;         /* st_mode & S_IFMT; 0: nothing there         */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
} st_vkey;

typedef struct st_rep {
    atomic_int refs;
    int encoding;          /* ST_ENC_*                                   */
    int64_t mtime;         /* seconds, for If-Modified-Since             */
    size_t len;
    char etag[56];
    char lastmod[32];
    const char *data;      /* follows the struct                         */
} st_rep;

typedef struct st_centry {
    struct st_centry *hnext;             /* hash chain                  */
    struct st_centry *prev, *next;       /* LRU, most recent first      */
    uint64_t hash;
    int64_t checked_ns;                  /* last stat check, monotonic  */
    size_t cost;                         /* bytes charged to the thread */
    const char *ctype;                   /* the identity file's type    */
    st_vkey key[ST_ENC_N];               /* file, file.gz, file.br      */
    st_vkey dirkey;                      /* the folder, for an index    */
    st_rep *rep[ST_ENC_N];               /* NULL: absent or not usable  */
    char *path;                          /* request key ("a/b", "d/")  */
    char *file;                          /* the file opened ("d/index.html") */
} st_centry;

typedef struct st_tcache {
    st_centry **buckets;
    size_t mask;
    st_centry lru;                       /* sentinel                    */
    size_t bytes, budget, count;
    uint64_t hits, misses;
} st_tcache;

st_tcache *st_tcache_new(size_t budget);
void st_tcache_free(st_tcache *c);

uint64_t st_hash(const char *s, size_t n);
/* The entry for `path`, moved to the front of the LRU list; NULL when absent. */
st_centry *st_tcache_get(st_tcache *c, const char *path, size_t n, uint64_t hash);
/* Insert (the table owns it now); evicts the least recently used entries
 * while over budget. An entry bigger than the whole budget is refused
 * (freed) and 0 returned; 1 when stored. */
int st_tcache_put(st_tcache *c, st_centry *e);
/* Remove and free. */
void st_tcache_drop(st_tcache *c, st_centry *e);

/* A new entry with room for its two strings; reps are added by the caller. */
st_centry *st_centry_new(const char *path, size_t pathlen, const char *file);
void st_centry_free(st_centry *e);

/* A rep with `len` bytes of room for the data (filled by the caller). */
st_rep *st_rep_new(size_t len);
void st_rep_ref(st_rep *r);
void st_rep_unref(void *r);   /* the set_body_ref release callback */

void st_vkey_from_stat(st_vkey *k, const struct stat *st);
#define st_vkey_regular(k) ((k)->type == S_IFREG)
int st_vkey_equal(const st_vkey *a, const st_vkey *b);
#endif
