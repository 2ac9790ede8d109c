/* htpasswd.h — an Apache htpasswd file as an immutable, shareable table,
 * and password checks for every scheme `htpasswd` writes. */
#ifndef AUTH_HTPASSWD_H
#define AUTH_HTPASSWD_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum ht_scheme {
    HT_APR1 = 1,    /* $apr1$   htpasswd -m (its default): apr-util       */
    HT_BCRYPT,      /* $2y$     htpasswd -B (also $2a$, $2b$): libcrypt   */
    HT_SHA256,      /* $5$      htpasswd -2: libcrypt                     */
    HT_SHA512,      /* $6$      htpasswd -5: libcrypt                     */
    HT_SHA1,        /* {SHA}    htpasswd -s: apr-util                     */
    HT_MD5CRYPT,    /* $1$      openssl passwd -1: libcrypt               */
    HT_YESCRYPT,    /* $y$      mkpasswd (Debian's default): libcrypt     */
};

struct ht_user {
    const char *name;
    const char *hash;
    int scheme;
};

struct ht_table {
    atomic_int refs;
    uint64_t gen;            /* set by the owner; 0 = never published      */
    uint64_t digest;         /* of the file's bytes: same text, same table */
    size_t n;
    struct ht_user *users;   /* sorted by name, unique                     */
    const char *dummy;       /* a hash to check unknown users against      */
    int dummy_scheme;
    char *text;
};

/* Scheme of a stored hash, or 0 with *why set to a sentence fragment. */
int ht_scheme_of(const char *hash, const char **why);

/* Parse the file's text: `len` bytes, text[len] writable (the table takes
 * ownership of the malloc'd `text`, even on failure). NULL on error, with "line N: user 'x': why" in err. */
struct ht_table *ht_parse(char *text, size_t len, char *err, size_t errcap);

/* Read and parse `path`. *st gets the fstat of what was read. NULL on
 * error, with the reason (strerror or a parse error) in err. */
struct ht_table *ht_load(const char *path, struct stat *st, char *err, size_t errcap);

const struct ht_user *ht_find(const struct ht_table *t, const char *name);
void ht_free(struct ht_table *t);

/* Check `password` against `hash`: 1 match, 0 mismatch (also for a hash
 * that the library cannot process). The comparison of the computed and
 * stored hash is constant-time. `cdata`/`csize` are a crypt_ra() work
 * area the caller keeps per thread (both 0/NULL at first). */
int ht_verify(const char *password, const char *hash, int scheme, void **cdata, int *csize);
#endif
