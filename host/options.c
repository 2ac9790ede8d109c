/* options.c — parse and check option values against a plugin's table. */
#include "options.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void *store_keep(struct optstore *s, void *p)
{
    if (!p)
        return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        void **np = realloc(s->ptrs, cap * sizeof *np);
        if (!np) {
            free(p);
            return NULL;
        }
        s->ptrs = np;
        s->cap = cap;
    }
    s->ptrs[s->n++] = p;
    return p;
}

void optstore_free(struct optstore *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ptrs[i]);
    free(s->ptrs);
    s->ptrs = NULL;
    s->n = s->cap = 0;
}

const char *option_type_name(int type)
{
    switch (type) {
    case STRATA_OPT_STRING: return "string";
    case STRATA_OPT_PATH: return "path";
    case STRATA_OPT_ENUM: return "choice";
    case STRATA_OPT_INT: return "integer";
    case STRATA_OPT_SIZE: return "size";
    case STRATA_OPT_DOUBLE: return "number";
    case STRATA_OPT_BOOL: return "boolean";
    case STRATA_OPT_LIST: return "list";
    default: return "?";
    }
}

const strata_option *options_find(const strata_option *opts, const char *name)
{
    for (; opts && opts->name; opts++)
        if (strcasecmp(opts->name, name) == 0)
            return opts;
    return NULL;
}

int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

int parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return -1;
    unsigned long long mul = 1;
    switch (toupper((unsigned char)*end)) {
    case 0: break;
    case 'K': mul = 1ull << 10; end++; break;
    case 'M': mul = 1ull << 20; end++; break;
    case 'G': mul = 1ull << 30; end++; break;
    case 'B': break;
    default: return -1;
    }
    if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end || v > (unsigned long long)INT64_MAX / mul)
        return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* "lo..hi" bounds for numbers; either side may be empty. */
static int check_range(const char *choices, double v, char *err, size_t errlen)
{
    if (!choices || !strstr(choices, ".."))
        return 0;
    char *end;
    double lo = strtod(choices, &end);
    int has_lo = end != choices;
    const char *hi_s = strstr(choices, "..") + 2;
    double hi = strtod(hi_s, &end);
    int has_hi = end != hi_s;
    if ((has_lo && v < lo) || (has_hi && v > hi)) {
        snprintf(err, errlen, "expected a value in %s", choices);
        return -1;
    }
    return 0;
}

static int enum_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncasecmp(p, v, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int split_list(const char *v, struct optstore *st, strata_list *out)
{
    size_t len = strlen(v);
    char *copy = store_keep(st, strdup(v));
    const char **items = store_keep(st, calloc(len / 2 + 2, sizeof *items));
    if (!copy || !items)
        return -1;
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(copy, " \t,", &save); tok;
         tok = strtok_r(NULL, " \t,", &save))
        items[n++] = tok;
    out->n = n;
    out->items = items;
    return 0;
}

static int apply_one(const strata_option *o, void *config, const char *v, const char *dir,
                     struct optstore *st, char *err, size_t errlen)
{
    char *field = (char *)config + o->offset;
    int64_t i;
    double d;
    int b;
    switch (o->type) {
    case STRATA_OPT_STRING: {
        char *s = store_keep(st, strdup(v));
        if (!s)
            return snprintf(err, errlen, "out of memory"), -1;
        memcpy(field, &s, sizeof s);
        return 0;
    }
    case STRATA_OPT_PATH: {
        char *s;
        if (v[0] == '/' || !dir || !*dir || v[0] == '\0' || strcmp(v, "-") == 0)
            s = strdup(v);
        else if (asprintf(&s, "%s/%s", dir, v) < 0)
            s = NULL;
        if (!store_keep(st, s))
            return snprintf(err, errlen, "out of memory"), -1;
        memcpy(field, &s, sizeof s);
        return 0;
    }
    case STRATA_OPT_ENUM: {
        if (!enum_ok(o->choices, v))
            return snprintf(err, errlen, "expected one of %s, got '%s'", o->choices, v), -1;
        char *s = store_keep(st, strdup(v));
        if (!s)
            return -1;
        memcpy(field, &s, sizeof s);
        return 0;
    }
    case STRATA_OPT_INT:
        if (parse_int(v, &i))
            return snprintf(err, errlen, "expected an integer, got '%s'", v), -1;
        if (check_range(o->choices, (double)i, err, errlen))
            return -1;
        memcpy(field, &i, sizeof i);
        return 0;
    case STRATA_OPT_SIZE:
        if (parse_size(v, &i))
            return snprintf(err, errlen, "expected a size like 512, 64K or 10M, got '%s'", v), -1;
        if (check_range(o->choices, (double)i, err, errlen))
            return -1;
        memcpy(field, &i, sizeof i);
        return 0;
    case STRATA_OPT_DOUBLE:
        if (parse_double(v, &d))
            return snprintf(err, errlen, "expected a number, got '%s'", v), -1;
        if (check_range(o->choices, d, err, errlen))
            return -1;
        memcpy(field, &d, sizeof d);
        return 0;
    case STRATA_OPT_BOOL:
        if (parse_bool(v, &b))
            return snprintf(err, errlen, "expected true or false, got '%s'", v), -1;
        memcpy(field, &b, sizeof b);
        return 0;
    case STRATA_OPT_LIST: {
        strata_list l;
        if (split_list(v, st, &l))
            return snprintf(err, errlen, "out of memory"), -1;
        memcpy(field, &l, sizeof l);
        return 0;
    }
    default:
        return snprintf(err, errlen, "the plugin declares an unknown option type %d", o->type), -1;
    }
}

int options_apply(const strata_option *opts, void *config, option_get_fn get, void *ctx,
                  const char *config_dir, struct optstore *store, const char **bad_key,
                  char *err, size_t errlen)
{
    for (const strata_option *o = opts; o && o->name; o++) {
        const char *v = get(ctx, o->name);
        if (!v)
            v = o->def;
        if (!v) {
            if (o->required) {
                *bad_key = o->name;
                snprintf(err, errlen, "required option missing (%s: %s)",
                         option_type_name(o->type), o->help ? o->help : "");
                return -1;
            }
            continue;
        }
        if (apply_one(o, config, v, config_dir, store, err, errlen)) {
            *bad_key = o->name;
            return -1;
        }
    }
    return 0;
}

/* Edit distance counting a swap of neighbours as one edit (optimal string
 * alignment), so "stie" suggests "site". Bounded to short names. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    static _Thread_local size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *suggest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}
