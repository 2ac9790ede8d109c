/* htpasswd.c — load Apache htpasswd files and check passwords.
 *
 * Hashing is done by the libraries made for it: apr-util for Apache's own
 * formats ($apr1$ MD5 and {SHA}), libcrypt (libxcrypt) for bcrypt and the
 * SHA-2 crypts. We do not call apr_password_validate(): it compares the
 * computed hash with strcmp (timing leaks the stored hash byte by byte,
 * which for unsalted {SHA} is an offline-crackable hash), and its crypt_r
 * path puts a 32 KiB struct crypt_data on the caller's stack. Here the
 * comparison is constant-time and the crypt work area is per thread. */
#include "htpasswd.h"
#include "siphash.h"
#include <apr_md5.h>
#include <apr_sha1.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HT_MAX_FILE (16u << 20)

/* A bcrypt hash (cost 5, of a random password nobody knows) to spend
 * time on when the file has no users, so that "no such user" answers as
 * slowly as a wrong password. */
static const char empty_dummy[] = "$2y$05$bxqxIWTTyvC/9c8SaQX6dOQYYbIjSFnU8ajaWjYDM5g9laoVrchoe";

static int crypt64_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '/';
}

static int all_crypt64(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!crypt64_char(s[i]))
            return 0;
    return 1;
}

/* "salt$checksum" after an id: salt of 1..max_salt characters without
 * '$', checksum of exactly `sum` crypt64 characters. */
static int salt_and_sum(const char *p, size_t max_salt, size_t sum)
{
    const char *d = strchr(p, '$');
    if (!d || d == p || (size_t)(d - p) > max_salt)
        return 0;
    return strlen(d + 1) == sum && all_crypt64(d + 1, sum);
}

static int sha_crypt_ok(const char *p, size_t sum)
{
    if (strncmp(p, "rounds=", 7) == 0) {
        char *end;
        errno = 0;
        unsigned long r = strtoul(p + 7, &end, 10);
        if (end == p + 7 || *end != '$' || errno || r < 1000 || r > 999999999)
            return 0;
        p = end + 1;
    }
    return salt_and_sum(p, 16, sum);
}

int ht_scheme_of(const char *h, const char **why)
{
    size_t n = strlen(h);
    *why = NULL;
    if (strncmp(h, "$apr1$", 6) == 0) {
        if (salt_and_sum(h + 6, 8, 22))
            return HT_APR1;
        *why = "malformed $apr1$ (htpasswd -m) hash";
    } else if (h[0] == '$' && h[1] == '2' && (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') &&
               h[3] == '$') {
        int cost = (h[4] >= '0' && h[4] <= '9' && h[5] >= '0' && h[5] <= '9')
                       ? (h[4] - '0') * 10 + (h[5] - '0') : -1;
        if (n == 60 && h[6] == '$' && cost >= 4 && cost <= 31 && all_crypt64(h + 7, 53))
            return HT_BCRYPT;
        *why = "malformed bcrypt (htpasswd -B) hash";
    } else if (strncmp(h, "$5$", 3) == 0) {
        if (sha_crypt_ok(h + 3, 43))
            return HT_SHA256;
        *why = "malformed SHA-256 crypt (htpasswd -2) hash";
    } else if (strncmp(h, "$6$", 3) == 0) {
        if (sha_crypt_ok(h + 3, 86))
            return HT_SHA512;
        *why = "malformed SHA-512 crypt (htpasswd -5) hash";
    } else if (strncmp(h, "{SHA}", 5) == 0) {
        const char *b = h + 5;
        size_t i = 0;
        while (i < 27 && (crypt64_char(b[i]) || b[i] == '+') && b[i] != '.')
            i++;
        if (n == 33 && i == 27 && b[27] == '=')
            return HT_SHA1;
        *why = "malformed {SHA} (htpasswd -s) hash";
    } else if (strncmp(h, "$1$", 3) == 0) {
        if (salt_and_sum(h + 3, 8, 22))
            return HT_MD5CRYPT;
        *why = "malformed $1$ MD5 crypt hash";
    } else if (strncmp(h, "$y$", 3) == 0) {
        if (crypt_checksalt(h) == CRYPT_SALT_OK)
            return HT_YESCRYPT;
        *why = "malformed $y$ yescrypt hash";
    } else if (n == 13 && all_crypt64(h, 13)) {
        *why = "DES crypt hashes (htpasswd -d) are refused: they use only the first 8 "
               "characters of a password; re-create it with htpasswd -B";
    } else {
        *why = "unrecognised password hash (plain text from htpasswd -p?); re-create it "
               "with htpasswd -B";
    }
    return 0;
}

static int user_cmp(const void *a, const void *b)
{
    const struct ht_user *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    /* equal names: keep file order, the first line wins (as in Apache) */
    return (x->hash > y->hash) - (x->hash < y->hash);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

struct ht_table *ht_parse(char *text, size_t len, char *err, size_t errcap)
{
    static const uint64_t digest_key[2] = {0x68747061737377ULL, 0x6473747261746121ULL};
    struct ht_table *t = calloc(1, sizeof *t);
    if (!t) {
        free(text);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    t->text = text;
    t->digest = siphash64(digest_key, text, len);
    atomic_init(&t->refs, 1);

    size_t cap = 0;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    t->users = calloc(cap + 1, sizeof *t->users);
    if (!t->users) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }

    char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        while (p < e && is_space(*p))
            p++;
        while (e > p && is_space(e[-1]))
            e--;
        *e = '\0';
        if (p == e || *p == '#') {
            p = next;
            continue;
        }
        if (memchr(p, '\0', (size_t)(e - p))) {
            snprintf(err, errcap, "line %d: NUL byte in line", line);
            goto fail;
        }
        char *colon = strchr(p, ':');
        if (!colon || colon == p) {
            snprintf(err, errcap, "line %d: expected 'user:hash'", line);
            goto fail;
        }
        *colon = '\0';
        char *hash = colon + 1;
        char *more = strchr(hash, ':');   /* Apache ignores fields after the hash */
        if (more)
            *more = '\0';
        const char *why;
        int scheme = ht_scheme_of(hash, &why);
        if (!scheme) {
            snprintf(err, errcap, "line %d: user '%.64s': %s", line, p, why);
            goto fail;
        }
        t->users[t->n++] = (struct ht_user){p, hash, scheme};
        p = next;
    }

    qsort(t->users, t->n, sizeof *t->users, user_cmp);
    size_t u = 0;
    for (size_t i = 0; i < t->n; i++)
        if (u == 0 || strcmp(t->users[u - 1].name, t->users[i].name) != 0)
            t->users[u++] = t->users[i];
    t->n = u;
    t->dummy = t->n ? t->users[0].hash : empty_dummy;
    t->dummy_scheme = t->n ? t->users[0].scheme : HT_BCRYPT;
    return t;
fail:
    ht_free(t);
    return NULL;
}

struct ht_table *ht_load(const char *path, struct stat *st, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    if (fstat(fd, st) < 0) {
        snprintf(err, errcap, "cannot stat '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errcap, "'%s' is not a regular file", path);
        goto fail;
    }
    size_t cap = (size_t)st->st_size + 1, len = 0;
    if (cap > HT_MAX_FILE + 1)
        cap = HT_MAX_FILE + 1;
    if (!(buf = malloc(cap + 1))) {
        snprintf(err, errcap, "out of memory reading '%s'", path);
        goto fail;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errcap, "cannot read '%s': %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) {   /* it grew while we read */
            if (cap > HT_MAX_FILE) {
                snprintf(err, errcap, "'%s' is larger than %u bytes", path, HT_MAX_FILE);
                goto fail;
            }
            size_t ncap = cap * 2 > HT_MAX_FILE + 1 ? HT_MAX_FILE + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                snprintf(err, errcap, "out of memory reading '%s'", path);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
    }
    close(fd);
    buf[len] = '\0';
    char perr[256];
    struct ht_table *t = ht_parse(buf, len, perr, sizeof perr);
    if (!t)
        snprintf(err, errcap, "'%s' %s", path, perr);
    return t;
fail:
    free(buf);
    close(fd);
    return NULL;
}

const struct ht_user *ht_find(const struct ht_table *t, const char *name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, t->users[mid].name);
        if (c == 0)
            return &t->users[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void ht_free(struct ht_table *t)
{
    if (!t)
        return;
    free(t->users);
    free(t->text);
    free(t);
}

/* Equal strings, in time that depends only on their lengths (which are
 * public: every hash of a scheme has the same length). */
static int ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
    volatile unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int ht_verify(const char *password, const char *hash, int scheme, void **cdata, int *csize)
{
    char out[128];
    switch (scheme) {
    case HT_APR1:
        if (apr_md5_encode(password, hash, out, sizeof out) != APR_SUCCESS)
            return 0;
        return ct_streq(out, hash);
    case HT_SHA1:
        apr_sha1_base64(password, (int)strlen(password), out);
        return ct_streq(out, hash);
    case HT_BCRYPT:
    case HT_SHA256:
    case HT_SHA512:
    case HT_MD5CRYPT:
    case HT_YESCRYPT: {
        const char *r = crypt_ra(password, hash, cdata, csize);
        return r && r[0] != '*' && ct_streq(r, hash);
    }
    default:
        return 0;
    }
}
