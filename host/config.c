/* config.c — PasteDeploy-style INI: sections, [DEFAULT], interpolation.
 *
 * iniparser gives flat "section:key" entries (lowercased, no line
 * numbers). This file turns them into typed sections with every value
 * interpolated once at load:
 *   %(name)s   the section's own key, else [DEFAULT], else a NAME=VALUE
 *              override; `here` and `__file__` are predefined; %% is '%'
 *   ${ENV}     the environment; ${ENV:-default} with a fallback
 * Two deliberate fixes over PasteDeploy: a key set in a section wins over
 * [DEFAULT], and command-line NAME=VALUE is seen by %(NAME)s. */
#include "config.h"
#include "errs.h"
#include "options.h"
#include <iniparser.h>
#include <dictionary.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *section_type_name(int type)
{
    switch (type) {
    case SEC_SERVER: return "server";
    case SEC_APP: return "app";
    case SEC_FILTER: return "filter";
    case SEC_PIPELINE: return "pipeline";
    case SEC_COMPOSITE: return "composite";
    default: return "?";
    }
}

/* ---- raw values before interpolation ---- */

struct raw {
    dictionary *d;
    const char *secname;          /* iniparser's section, lowercased */
    char *const *over;
    int n_over;
    const char *here, *file;
    const char *key;              /* the key being interpolated */
};

static const char *raw_section_get(dictionary *d, const char *sec, const char *key)
{
    char full[1024];
    snprintf(full, sizeof full, "%s:%s", sec, key);
    return iniparser_getstring(d, full, NULL);
}

static const char *override_get(char *const *over, int n, const char *name, size_t nlen)
{
    for (int i = n - 1; i >= 0; i--) {
        const char *eq = strchr(over[i], '=');
        if (eq && (size_t)(eq - over[i]) == nlen && strncasecmp(over[i], name, nlen) == 0)
            return eq + 1;
    }
    return NULL;
}

/* Lookup order for %(name)s: predefined, the section, overrides, DEFAULT. */
static const char *var_lookup(struct raw *r, const char *name, size_t nlen)
{
    char key[256];
    if (nlen >= sizeof key)
        return NULL;
    memcpy(key, name, nlen);
    key[nlen] = '\0';
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(key, "here") == 0)
        return r->here;
    if (strcmp(key, "__file__") == 0)
        return r->file;
    /* `port = %(port)s` means the [DEFAULT] or command-line port, not itself */
    const char *v = r->secname && (!r->key || strcmp(r->key, key) != 0)
                        ? raw_section_get(r->d, r->secname, key) : NULL;
    if (v)
        return v;
    if ((v = override_get(r->over, r->n_over, key, nlen)))
        return v;
    return raw_section_get(r->d, "default", key);
}

struct sbuf {
    char *s;
    size_t len, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return -1;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
    return 0;
}

static int interp(struct raw *r, const char *v, struct sbuf *out, int depth, char *why,
                  size_t whylen)
{
    if (depth > 16) {
        snprintf(why, whylen, "interpolation nested too deep (a variable refers to itself?)");
        return -1;
    }
    for (const char *p = v; *p;) {
        if (p[0] == '%' && p[1] == '%') {
            sb_add(out, "%", 1);
            p += 2;
        } else if (p[0] == '%' && p[1] == '(') {
            const char *end = strstr(p + 2, ")s");
            if (!end) {
                snprintf(why, whylen, "unterminated '%%(' in '%s': expected %%(name)s", v);
                return -1;
            }
            const char *val = var_lookup(r, p + 2, (size_t)(end - p - 2));
            if (!val) {
                snprintf(why, whylen, "'%%(%.*s)s': no such variable in the section, "
                         "[DEFAULT] or the command line", (int)(end - p - 2), p + 2);
                return -1;
            }
            if (interp(r, val, out, depth + 1, why, whylen))
                return -1;
            p = end + 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                snprintf(why, whylen, "unterminated '${' in '%s': expected ${NAME}", v);
                return -1;
            }
            char name[256];
            size_t n = (size_t)(end - p - 2);
            if (n >= sizeof name)
                n = sizeof name - 1;
            memcpy(name, p + 2, n);
            name[n] = '\0';
            char *def = strstr(name, ":-");
            if (def) {
                *def = '\0';
                def += 2;
            }
            const char *env = getenv(name);
            if (env && *env)
                sb_add(out, env, strlen(env));
            else if (def) {
                if (interp(r, def, out, depth + 1, why, whylen))   /* ${X:-%(here)s/x} */
                    return -1;
            }
            else if (!env) {
                snprintf(why, whylen, "environment variable '%s' is not set (use ${%s:-default})",
                         name, name);
                return -1;
            }
            p = end + 1;
        } else {
            const char *q = p + 1;
            while (*q && *q != '%' && *q != '$')
                q++;
            sb_add(out, p, (size_t)(q - p));
            p = q;
        }
    }
    if (!out->s)
        sb_add(out, "", 0);
    return 0;
}

/* ---- sections ---- */

static int parse_type(const char *t, size_t n)
{
    static const struct { const char *s; int t; } map[] = {
        {"server", SEC_SERVER}, {"app", SEC_APP}, {"filter", SEC_FILTER},
        {"pipeline", SEC_PIPELINE}, {"composite", SEC_COMPOSITE},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strlen(map[i].s) == n && strncmp(map[i].s, t, n) == 0)
            return map[i].t;
    return 0;
}

static struct errs *ini_errs;

static int ini_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* iniparser says "iniparser: syntax error in FILE (N):\n-> TEXT": make
     * it one line in our form, "FILE: line N: syntax error: ... 'TEXT'". */
    const char *in = strstr(msg, " in "), *paren = strrchr(msg, '('), *arrow = strstr(msg, "-> ");
    if (strncmp(msg, "iniparser: ", 11) == 0 && in && paren && paren > in) {
        int line = atoi(paren + 1);
        int wl = (int)(in - (msg + 11));
        int tl = arrow ? (int)strcspn(arrow + 3, "\n") : 0;
        if (ini_errs)
            err_add(ini_errs, NULL, NULL, "line %d: %.*s: expected [section] or key = value%s%.*s%s",
                    line, wl, msg + 11, arrow ? ", got '" : "", tl, arrow ? arrow + 3 : "",
                    arrow ? "'" : "");
        return 0;
    }
    size_t n = strlen(msg);
    for (size_t i = 0; i < n; i++)
        if (msg[i] == '\n')
            msg[i] = ' ';
    while (n && msg[n - 1] == ' ')
        msg[--n] = '\0';
    if (ini_errs)
        err_add(ini_errs, NULL, NULL, "%s", msg);
    return 0;
}

/* What iniparser accepts silently but a user surely did not mean: a key
 * before any section (dropped), a section or a key given twice (merged,
 * last wins). configparser refuses all three; so do we. */
struct seen {
    char name[128];               /* lowercased, as iniparser has it */
    char orig[128];               /* as written                      */
    int sec, line;
};

struct scan {
    struct seen *secs, *keys;
    int n_secs, n_keys;
};

static void scan_text(const char *text, size_t len, struct errs *e, struct scan *out)
{
    struct seen *secs = calloc(256, sizeof *secs), *keys = calloc(1024, sizeof *keys);
    int n_secs = 0, n_keys = 0, cur = -1, lineno = 0, continued = 0;
    for (size_t pos = 0; secs && keys && pos < len;) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        lineno++;
        const char *l = text + pos;
        size_t n = end - pos;
        pos = end + 1;
        while (n && isspace((unsigned char)*l))
            l++, n--;
        while (n && isspace((unsigned char)l[n - 1]))
            n--;
        int was_continued = continued;
        continued = n && l[n - 1] == '\\';
        if (was_continued || !n || *l == ';' || *l == '#')
            continue;
        if (*l == '[') {
            const char *close = memchr(l, ']', n);
            if (!close)
                continue;                 /* iniparser reports it */
            char name[128];
            size_t k = 0;
            for (const char *p = l + 1; p < close && k < sizeof name - 1; p++)
                if (!isspace((unsigned char)*p))
                    name[k++] = (char)tolower((unsigned char)*p);
            name[k] = '\0';
            cur = -1;
            for (int i = 0; i < n_secs; i++)
                if (strcmp(secs[i].name, name) == 0) {
                    err_add(e, name, NULL, "line %d: the section appears twice (first at line %d)",
                            lineno, secs[i].line);
                    cur = i;
                }
            if (cur < 0 && n_secs < 256) {
                snprintf(secs[n_secs].name, sizeof secs[n_secs].name, "%s", name);
                secs[n_secs].line = lineno;
                cur = n_secs++;
            }
            continue;
        }
        const char *eq = memchr(l, '=', n);
        if (!eq)
            continue;
        char key[128], orig[128];
        size_t k = 0;
        for (const char *p = l; p < eq && k < sizeof key - 1; p++, k++) {
            orig[k] = *p;
            key[k] = (char)tolower((unsigned char)*p);
        }
        while (k && isspace((unsigned char)key[k - 1]))
            k--;
        key[k] = orig[k] = '\0';
        if (cur < 0) {
            err_add(e, NULL, NULL, "line %d: '%s' is outside any section: put it under [DEFAULT] "
                    "or a section", lineno, key);
            continue;
        }
        for (int i = 0; i < n_keys; i++)
            if (keys[i].sec == cur && strcmp(keys[i].name, key) == 0)
                err_add(e, secs[cur].name, key, "line %d: set twice (first at line %d)", lineno,
                        keys[i].line);
        if (n_keys < 1024) {
            snprintf(keys[n_keys].name, sizeof keys[n_keys].name, "%s", key);
            snprintf(keys[n_keys].orig, sizeof keys[n_keys].orig, "%s", orig);
            keys[n_keys].sec = cur;
            keys[n_keys].line = lineno;
            n_keys++;
        }
    }
    out->secs = secs;
    out->keys = keys;
    out->n_secs = n_secs;
    out->n_keys = n_keys;
}

/* iniparser lowercases keys, but a urlmap's keys are paths, and paths are
 * case-sensitive: give composite keys back the case they were written in. */
static void restore_mount_case(struct config *c, const struct scan *sc)
{
    for (size_t i = 0; i < c->n_sec; i++) {
        struct cfg_section *s = &c->sec[i];
        if (s->type != SEC_COMPOSITE)
            continue;
        for (size_t k = 0; k < s->n_kv; k++)
            for (int j = 0; j < sc->n_keys; j++) {
                const struct seen *o = &sc->keys[j];
                if (o->sec >= 0 && o->sec < sc->n_secs &&
                    strcmp(sc->secs[o->sec].name, s->full) == 0 &&
                    strcmp(o->name, s->kv[k].key) == 0 && strcmp(o->orig, o->name) != 0) {
                    char *dup = strdup(o->orig);
                    if (dup) {
                        free(s->kv[k].key);
                        s->kv[k].key = dup;
                    }
                    break;
                }
            }
    }
}

const struct cfg_section *config_section(const struct config *c, int type, const char *name)
{
    for (size_t i = 0; i < c->n_sec; i++)
        if (c->sec[i].type == type && strcmp(c->sec[i].name, name) == 0)
            return &c->sec[i];
    return NULL;
}

const char *config_get(const struct cfg_section *s, const char *key)
{
    for (size_t i = 0; s && i < s->n_kv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].value;
    return NULL;
}

/* [server:main] keys, checked and converted. */
enum { T_STR, T_INT, T_SIZE, T_SEC, T_BOOL };
static const struct server_key {
    const char *key;
    int type;
    const char *def;
    size_t off;
    double lo, hi;
} server_keys[] = {
#define O(f) offsetof(struct server_cfg, f)
    {"host", T_STR, "127.0.0.1", O(host), 0, 0},
    {"port", T_INT, "8080", O(port), 0, 65535},
    {"threads", T_INT, "16", O(threads), 1, 4096},
    {"io_threads", T_INT, "0", O(io_threads), 0, 64},
    {"workers", T_INT, "1", O(workers), 1, 64},
    {"queue", T_INT, "1024", O(queue), 0, 1000000},
    {"connection_timeout", T_SEC, "30", O(connection_timeout), 0, 86400},
    {"max_connections", T_INT, "1024", O(max_connections), 1, 1000000},
    {"max_header_size", T_SIZE, "8K", O(max_header_size), 1024, 1 << 24},
    {"max_body_size", T_SIZE, "10M", O(max_body_size), 0, 1e15},
    {"request_warn_after", T_SEC, "10", O(request_warn_after), 0, 1e9},
    {"hung_restart_after", T_SEC, "0", O(hung_restart_after), 0, 1e9},
    {"max_requests", T_SIZE, "0", O(max_requests), 0, 1e18},
    {"graceful_timeout", T_SEC, "10", O(graceful_timeout), 0, 86400},
    {"plugin_path", T_STR, "", O(plugin_path), 0, 0},
    {"tls_cert", T_STR, "", O(tls_cert), 0, 0},
    {"tls_key", T_STR, "", O(tls_key), 0, 0},
    {"error_log", T_STR, "", O(error_log), 0, 0},
    {"stage_cpu_time", T_BOOL, "false", O(stage_cpu_time), 0, 0},
#undef O
};
#define N_SERVER_KEYS (sizeof server_keys / sizeof *server_keys)

/* A [server:main] key not set in the section may come from [DEFAULT] or
 * the command line, so `strata serve x.ini port=9000` does what it says. */
static const char *server_value(const struct cfg_section *s, const char *key,
                                const struct cfg_section *defaults, char *const *over, int n_over)
{
    const char *v = s ? config_get(s, key) : NULL;
    if (v)
        return v;
    size_t n = strlen(key);
    for (int i = n_over - 1; i >= 0; i--)
        if (strncasecmp(over[i], key, n) == 0 && over[i][n] == '=')
            return over[i] + n + 1;
    return defaults ? config_get(defaults, key) : NULL;
}

static void server_apply(struct config *c, const struct cfg_section *s,
                         const struct cfg_section *defaults, char *const *over, int n_over,
                         struct errs *e)
{
    const char *names[N_SERVER_KEYS];
    for (size_t i = 0; i < N_SERVER_KEYS; i++)
        names[i] = server_keys[i].key;
    for (size_t i = 0; s && i < s->n_kv; i++) {
        size_t k = 0;
        while (k < N_SERVER_KEYS && strcmp(server_keys[k].key, s->kv[i].key) != 0)
            k++;
        if (k == N_SERVER_KEYS) {
            const char *near = suggest(s->kv[i].key, names, N_SERVER_KEYS);
            err_add(e, s->full, s->kv[i].key, "unknown key%s%s%s", near ? " (did you mean '" : "",
                    near ? near : "", near ? "'?)" : "");
        }
    }
    for (size_t k = 0; k < N_SERVER_KEYS; k++) {
        const struct server_key *d = &server_keys[k];
        const char *v = server_value(s, d->key, defaults, over, n_over);
        if (!v)
            v = d->def;
        char *field = (char *)&c->server + d->off;
        int64_t i64;
        double dv;
        int b;
        switch (d->type) {
        case T_STR:
            *(char **)field = strdup(v);
            break;
        case T_INT:
        case T_SIZE:
            /* an integer is a size without a K/M/G suffix */
            if (parse_size(v, &i64) ||
                (d->type == T_INT && v[strspn(v, "0123456789")] != '\0') ||
                (double)i64 < d->lo || (double)i64 > d->hi) {
                err_add(e, "server:main", d->key, "expected %s from %.0f to %.0f, got '%s'",
                        d->type == T_SIZE ? "a size" : "an integer", d->lo, d->hi, v);
                break;
            }
            if (d->type == T_INT)
                *(int *)field = (int)i64;
            else
                *(int64_t *)field = i64;
            break;
        case T_SEC: {
            char *end;
            dv = strtod(v, &end);
            if (end == v || *end || dv < d->lo || dv > d->hi)
                err_add(e, "server:main", d->key, "expected seconds from %.0f to %.0f, got '%s'",
                        d->lo, d->hi, v);
            else
                *(double *)field = dv;
            break;
        }
        case T_BOOL:
            if (parse_bool(v, &b))
                err_add(e, "server:main", d->key, "expected true or false, got '%s'", v);
            else
                *(int *)field = b;
            break;
        }
    }
}

int config_load(struct config *c, const char *path, char *const *over, int n_over, char *err,
                size_t errlen)
{
    return config_load_from(c, path, path, over, n_over, err, errlen);
}

static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

int config_load_from(struct config *c, const char *path, const char *read_path,
                     char *const *over, int n_over, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct errs e;
    errs_init(&e, err, errlen, path);
    for (int i = 0; i < n_over; i++)
        if (!strchr(over[i], '=') || over[i][0] == '=')
            err_add(&e, NULL, NULL, "command line: '%s': expected NAME=VALUE", over[i]);
    FILE *f = fopen(read_path, "r");
    if (!f) {
        err_add(&e, NULL, NULL, "cannot open config: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        err_add(&e, NULL, NULL, "cannot read config: %s", S_ISDIR(st.st_mode)
                ? "Is a directory" : "not a regular file");
        fclose(f);
        return -1;
    }
    c->text = slurp(f, &c->text_len);
    fclose(f);
    struct scan sc = {0};
    if (c->text)
        scan_text(c->text, c->text_len, &e, &sc);
    c->path = strdup(path);
    char *abs = realpath(path, NULL);
    char *tmp = strdup(abs ? abs : path);
    c->dir = strdup(dirname(tmp));
    free(tmp);

    ini_errs = &e;
    iniparser_set_error_callback(ini_error);
    dictionary *d = iniparser_load(read_path);
    iniparser_set_error_callback(NULL);
    ini_errs = NULL;
    if (!d || e.n) {
        if (!e.n)
            err_add(&e, NULL, NULL, "cannot parse the file as INI");
        if (d)
            iniparser_freedict(d);
        free(abs);
        free(sc.secs);
        free(sc.keys);
        return -1;
    }

    /* iniparser counts only names without ':' as sections, and ours all
     * have one, so walk the dictionary: a NULL value marks a section. */
    struct raw r = {d, NULL, over, n_over, c->dir, abs ? abs : c->path, NULL};
    c->sec = calloc((size_t)d->n + 1, sizeof *c->sec);
    for (ssize_t i = 0; i < d->size; i++) {
        const char *sn = d->key[i];
        if (!sn || d->val[i])
            continue;
        if (strcmp(sn, "default") == 0) {    /* kept, interpolated, for server keys */
            struct cfg_section *s = &c->sec[c->n_sec++];
            s->full = strdup(sn);
            s->name = strdup(sn);
            s->type = SEC_DEFAULT;
            s->kv = calloc((size_t)d->n + 1, sizeof *s->kv);
            continue;
        }
        const char *colon = strchr(sn, ':');
        int type = colon ? parse_type(sn, (size_t)(colon - sn)) : 0;
        if (!type || !colon[1]) {
            err_add(&e, sn, NULL, "unknown section type: expected [server:main], [app:NAME], "
                    "[filter:NAME], [pipeline:NAME] or [composite:NAME]");
            continue;
        }
        if (type == SEC_SERVER && strcmp(colon + 1, "main") != 0) {
            err_add(&e, sn, NULL, "only [server:main] is read; rename this section");
            continue;
        }
        struct cfg_section *s = &c->sec[c->n_sec++];
        s->full = strdup(sn);
        s->name = strdup(colon + 1);
        s->type = type;
        s->kv = calloc((size_t)d->n + 1, sizeof *s->kv);
    }
    for (ssize_t i = 0; i < d->size; i++) {
        const char *key = d->key[i];
        if (!key || !d->val[i])
            continue;
        struct cfg_section *owner = NULL;    /* the longest section prefix */
        for (size_t k = 0; k < c->n_sec; k++) {
            size_t len = strlen(c->sec[k].full);
            if (strncmp(key, c->sec[k].full, len) == 0 && key[len] == ':' &&
                (!owner || len > strlen(owner->full)))
                owner = &c->sec[k];
        }
        if (!owner)
            continue;                        /* a rejected section */
        r.secname = owner->type == SEC_DEFAULT ? NULL : owner->full;
        const char *name = key + strlen(owner->full) + 1;
        r.key = name;
        struct sbuf out = {0};
        char why[1024];
        if (interp(&r, d->val[i], &out, 0, why, sizeof why)) {
            err_add(&e, owner->full, name, "%s", why);
            free(out.s);
            continue;
        }
        owner->kv[owner->n_kv].key = strdup(name);
        owner->kv[owner->n_kv].value = out.s;
        owner->n_kv++;
    }
    iniparser_freedict(d);
    free(abs);
    server_apply(c, config_section(c, SEC_SERVER, "main"), config_section(c, SEC_DEFAULT, "default"),
                 over, n_over, &e);
    restore_mount_case(c, &sc);
    free(sc.secs);
    free(sc.keys);
    return e.n ? -1 : 0;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < c->n_sec; i++) {
        for (size_t k = 0; k < c->sec[i].n_kv; k++) {
            free(c->sec[i].kv[k].key);
            free(c->sec[i].kv[k].value);
        }
        free(c->sec[i].kv);
        free(c->sec[i].full);
        free(c->sec[i].name);
    }
    free(c->sec);
    free(c->server.host);
    free(c->server.plugin_path);
    free(c->server.tls_cert);
    free(c->server.tls_key);
    free(c->server.error_log);
    free(c->path);
    free(c->dir);
    free(c->text);
    memset(c, 0, sizeof *c);
}
