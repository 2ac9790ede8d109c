/*
 * headers — set, add and remove response headers; a security preset; CORS.
 *
 *   [filter:headers]
 *   use = headers
 *   security = true
 *   set = "Strict-Transport-Security: max-age=63072000; includeSubDomains | X-Robots-Tag: none"
 *   remove = X-Powered-By Server
 *   cors_origins = https://app.example.com https://admin.example.com
 *
 * Header rules are written `Name: value` and separated by '|' (a literal
 * '|' in a value is written `\|`). iniparser treats an unquoted ';' or '#'
 * as the start of a comment, so a value holding either is double-quoted as
 * a whole, as above.
 *
 * Order after the downstream answered: the security preset (only where
 * the response lacks the header), `set_default` (likewise), `set`
 * (replaces), `add` (appends), `remove`, then CORS. A name may not be both
 * set/added and removed: that is a configuration error.
 *
 * CORS: a preflight (OPTIONS with Origin and Access-Control-Request-Method)
 * from an allowed origin is answered here with 204 and never reaches the
 * downstream; other requests from an allowed origin get
 * Access-Control-Allow-Origin (and -Credentials, -Expose-Headers) added.
 * Nothing here blocks or allocates beyond the request arena.
 */
#include "strata.h"
#include "httputil.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

STRATA_HOST_DECLARE;

/* ---- configuration ------------------------------------------------------ */

typedef struct headers_conf {
    const char *set;
    const char *add;
    const char *set_default;
    strata_list remove;
    int security;
    strata_list cors_origins;
    strata_list cors_methods;
    strata_list cors_headers;
    strata_list cors_expose;
    int64_t cors_max_age;
    int cors_credentials;
} headers_conf;

typedef struct header_rule {
    char *name;
    char *value;
} header_rule;

typedef struct rule_set {
    header_rule *v;
    size_t n;
} rule_set;

typedef struct headers_inst {
    rule_set set, add, defaults;
    strata_list remove;
    int security;
    /* CORS: off when n_origins == 0 */
    const char *const *origins;
    size_t n_origins;
    int any_origin;            /* "*" listed                              */
    int credentials;
    char *methods;             /* "GET, HEAD, POST"                       */
    char *allow_headers;       /* NULL: reflect the request's             */
    char *expose;              /* NULL: none                              */
    char max_age[24];          /* "" : not sent                           */
} headers_inst;

static const strata_option headers_options[] = {
    {"set", STRATA_OPT_STRING, NULL, 0, offsetof(headers_conf, set),
     "headers to set, replacing any downstream value: 'Name: value | Name2: value2'", NULL},
    {"add", STRATA_OPT_STRING, NULL, 0, offsetof(headers_conf, add),
     "headers to append (a second value when one exists): 'Name: value | ...'", NULL},
    {"set_default", STRATA_OPT_STRING, NULL, 0, offsetof(headers_conf, set_default),
     "headers to set only when the response lacks them: 'Name: value | ...'", NULL},
    {"remove", STRATA_OPT_LIST, NULL, 0, offsetof(headers_conf, remove),
     "header names to remove from responses (X-Powered-By Server)", NULL},
    {"security", STRATA_OPT_BOOL, "false", 0, offsetof(headers_conf, security),
     "add X-Content-Type-Options, X-Frame-Options and Referrer-Policy when missing", NULL},
    {"cors_origins", STRATA_OPT_LIST, NULL, 0, offsetof(headers_conf, cors_origins),
     "origins allowed cross-origin access: '*', exact origins, or globs (https://*.example.com)",
     NULL},
    {"cors_methods", STRATA_OPT_LIST, "GET HEAD PUT PATCH POST DELETE", 0,
     offsetof(headers_conf, cors_methods), "methods a preflight allows", NULL},
    {"cors_headers", STRATA_OPT_LIST, NULL, 0, offsetof(headers_conf, cors_headers),
     "request headers a preflight allows; unset: those the browser asks for", NULL},
    {"cors_expose", STRATA_OPT_LIST, NULL, 0, offsetof(headers_conf, cors_expose),
     "response headers exposed to scripts (Access-Control-Expose-Headers)", NULL},
    {"cors_max_age", STRATA_OPT_INT, "600", 0, offsetof(headers_conf, cors_max_age),
     "seconds a browser may cache a preflight answer; 0: header not sent", "0..86400"},
    {"cors_credentials", STRATA_OPT_BOOL, "false", 0, offsetof(headers_conf, cors_credentials),
     "allow cookies and HTTP auth (Access-Control-Allow-Credentials: true)", NULL},
    STRATA_OPTIONS_END,
};

/* ---- helpers ------------------------------------------------------------ */

static int is_tchar(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static void rules_free(rule_set *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].name);
        free(rs->v[i].value);
    }
    free(rs->v);
    rs->v = NULL;
    rs->n = 0;
}

/* Parse "Name: value | Name2: value2" ('\|' is a literal '|') into rs.
 * Returns 0, or -1 after reporting the problem against `key`. */
static int rules_parse(const strata_section *sec, const char *key, const char *text,
                       rule_set *rs)
{
    if (!text)
        return 0;
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == '|';
    rs->v = calloc(cap, sizeof *rs->v);
    if (!buf || !rs->v) {
        free(buf);
        strata->config_error(sec, key, "out of memory");
        return -1;
    }
    const char *p = text;
    while (1) {
        /* one entry, unescaping '\|' */
        size_t o = 0;
        while (*p && *p != '|') {
            if (p[0] == '\\' && p[1] == '|')
                p++;
            buf[o++] = *p++;
        }
        buf[o] = '\0';
        char *e = trim(buf);
        if (*e) {
            char *colon = strpbrk(e, ":=");
            if (!colon || !is_token(e, (size_t)(colon - e))) {
                strata->config_error(sec, key,
                                     "expected 'Name: value' entries separated by '|', got '%s'",
                                     e);
                goto fail;
            }
            *colon = '\0';
            char *value = trim(colon + 1);
            header_rule *r = &rs->v[rs->n];
            r->name = strdup(trim(e));
            r->value = strdup(value);
            if (!r->name || !r->value) {
                free(r->name);
                free(r->value);
                strata->config_error(sec, key, "out of memory");
                goto fail;
            }
            rs->n++;
        }
        if (!*p)
            break;
        p++;
    }
    free(buf);
    return 0;
fail:
    free(buf);
    rules_free(rs);
    return -1;
}

/* "a, b, c" from a list; NULL for an empty list. */
static char *join(const strata_list *l)
{
    if (l->n == 0)
        return NULL;
    size_t n = 1;
    for (size_t i = 0; i < l->n; i++)
        n += strlen(l->items[i]) + 2;
    char *s = malloc(n), *o = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        o += sprintf(o, "%s%s", i ? ", " : "", l->items[i]);
    return s;
}

static int list_has(const strata_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->items[i], name) == 0)
            return 1;
    return 0;
}

/* An Origin the way browsers send it: "scheme://host[:port]" or "null". */
static int origin_well_formed(const char *o)
{
    const char *sep = strstr(o, "://");
    if (!sep || sep == o || !sep[3])
        return 0;
    for (const char *p = o; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return 0;
    for (const char *p = sep + 3; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-._:[]", *p))
            return 0;
    return 1;
}

static int origin_allowed(const headers_inst *h, const char *origin)
{
    if (!origin || !*origin)
        return 0;
    int shaped = origin_well_formed(origin);
    for (size_t i = 0; i < h->n_origins; i++) {
        const char *pat = h->origins[i];
        if (strcmp(pat, "*") == 0)
            return 1;
        if (strcasecmp(pat, origin) == 0)
            return 1;
        if (shaped && strchr(pat, '*') && fnmatch(pat, origin, FNM_CASEFOLD) == 0)
            return 1;
    }
    return 0;
}

/* Access-Control-Request-Headers as the browser sent it, when it is a
 * plain list of tokens (anything else is not reflected). */
static const char *reflectable(const char *v)
{
    if (!v || !*v)
        return NULL;
    for (const char *p = v; *p; p++)
        if (!is_tchar((unsigned char)*p) && *p != ',' && *p != ' ' && *p != '\t')
            return NULL;
    return v;
}

/* ---- create / destroy -------------------------------------------------- */

static void headers_destroy(void *p)
{
    headers_inst *h = p;
    if (!h)
        return;
    rules_free(&h->set);
    rules_free(&h->add);
    rules_free(&h->defaults);
    free(h->methods);
    free(h->allow_headers);
    free(h->expose);
    free(h);
}

static int conflicts(const strata_section *sec, const char *key, const rule_set *rs,
                     const strata_list *remove)
{
    for (size_t i = 0; i < rs->n; i++)
        if (list_has(remove, rs->v[i].name)) {
            strata->config_error(sec, "remove", "'%s' is both removed and in '%s'",
                                 rs->v[i].name, key);
            return -1;
        }
    return 0;
}

static int headers_create(const strata_section *sec, const void *config, void **out)
{
    const headers_conf *c = config;
    headers_inst *h = calloc(1, sizeof *h);
    if (!h)
        return STRATA_ERROR;
    if (rules_parse(sec, "set", c->set, &h->set) || rules_parse(sec, "add", c->add, &h->add) ||
        rules_parse(sec, "set_default", c->set_default, &h->defaults))
        goto fail;
    for (size_t i = 0; i < c->remove.n; i++)
        if (!is_token(c->remove.items[i], strlen(c->remove.items[i]))) {
            strata->config_error(sec, "remove", "'%s' is not a header name", c->remove.items[i]);
            goto fail;
        }
    if (conflicts(sec, "set", &h->set, &c->remove) || conflicts(sec, "add", &h->add, &c->remove) ||
        conflicts(sec, "set_default", &h->defaults, &c->remove))
        goto fail;
    h->remove = c->remove;
    h->security = c->security;

    h->origins = c->cors_origins.items;
    h->n_origins = c->cors_origins.n;
    for (size_t i = 0; i < h->n_origins; i++) {
        const char *o = h->origins[i];
        const char *sep = strstr(o, "://");
        if (strcmp(o, "*") == 0) {
            h->any_origin = 1;
        } else if (strcmp(o, "null") == 0) {
            /* sandboxed frames and file: pages send "null" */
        } else if (!sep || sep == o) {
            strata->config_error(sec, "cors_origins",
                                 "expected '*' or origins like 'https://example.com', got '%s'", o);
            goto fail;
        } else if (strchr(sep + 3, '/')) {
            strata->config_error(sec, "cors_origins",
                                 "an origin has no path: '%s' (scheme://host[:port])", o);
            goto fail;
        }
    }
    for (size_t i = 0; i < c->cors_methods.n; i++)
        if (!is_token(c->cors_methods.items[i], strlen(c->cors_methods.items[i]))) {
            strata->config_error(sec, "cors_methods", "'%s' is not a method",
                                 c->cors_methods.items[i]);
            goto fail;
        }
    for (size_t i = 0; i < c->cors_headers.n; i++)
        if (!is_token(c->cors_headers.items[i], strlen(c->cors_headers.items[i]))) {
            strata->config_error(sec, "cors_headers", "'%s' is not a header name",
                                 c->cors_headers.items[i]);
            goto fail;
        }
    h->credentials = c->cors_credentials;
    if (h->n_origins) {
        h->methods = join(&c->cors_methods);
        h->allow_headers = join(&c->cors_headers);
        h->expose = join(&c->cors_expose);
        if ((c->cors_methods.n && !h->methods) || (c->cors_headers.n && !h->allow_headers) ||
            (c->cors_expose.n && !h->expose)) {
            strata->config_error(sec, "cors_origins", "out of memory");
            goto fail;
        }
        if (c->cors_max_age > 0)
            snprintf(h->max_age, sizeof h->max_age, "%lld", (long long)c->cors_max_age);
    } else if (c->cors_credentials || c->cors_headers.n || c->cors_expose.n) {
        strata->config_error(sec, "cors_origins",
                             "CORS options are set but no origin is allowed; list origins or '*'");
        goto fail;
    }
    *out = h;
    return STRATA_OK;
fail:
    headers_destroy(h);
    return STRATA_ERROR;
}

/* ---- the request -------------------------------------------------------- */

static const char *const security_preset[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "SAMEORIGIN"},
    {"Referrer-Policy", "strict-origin-when-cross-origin"},
};

static int apply_rules(const headers_inst *h, strata_request *req)
{
    if (h->security)
        for (size_t i = 0; i < sizeof security_preset / sizeof *security_preset; i++)
            if (!strata->resp_header(req, security_preset[i][0]) &&
                strata->set_header(req, security_preset[i][0], security_preset[i][1]))
                return STRATA_ERROR;
    for (size_t i = 0; i < h->defaults.n; i++)
        if (!strata->resp_header(req, h->defaults.v[i].name) &&
            strata->set_header(req, h->defaults.v[i].name, h->defaults.v[i].value))
            return STRATA_ERROR;
    for (size_t i = 0; i < h->set.n; i++)
        if (strata->set_header(req, h->set.v[i].name, h->set.v[i].value))
            return STRATA_ERROR;
    for (size_t i = 0; i < h->add.n; i++)
        if (strata->add_header(req, h->add.v[i].name, h->add.v[i].value))
            return STRATA_ERROR;
    for (size_t i = 0; i < h->remove.n; i++)
        strata->remove_header(req, h->remove.items[i]);
    return STRATA_OK;
}

/* Access-Control-Allow-Origin and friends, shared by preflight and actual
 * responses. The caller checked the origin. */
static int cors_allow(const headers_inst *h, strata_request *req, const char *origin)
{
    int star = h->any_origin && !h->credentials;
    if (strata->set_header(req, "Access-Control-Allow-Origin", star ? "*" : origin))
        return STRATA_ERROR;
    if (h->credentials && strata->set_header(req, "Access-Control-Allow-Credentials", "true"))
        return STRATA_ERROR;
    return STRATA_OK;
}

static int preflight(const headers_inst *h, strata_request *req, const char *origin)
{
    strata->set_status(req, 204);
    if (cors_allow(h, req, origin))
        return STRATA_ERROR;
    if (h->methods && strata->set_header(req, "Access-Control-Allow-Methods", h->methods))
        return STRATA_ERROR;
    const char *allow = h->allow_headers;
    if (!allow) {
        allow = reflectable(strata->header(req, "Access-Control-Request-Headers"));
        if (http_vary_add(strata, req, "Access-Control-Request-Headers"))
            return STRATA_ERROR;
    }
    if (allow && strata->set_header(req, "Access-Control-Allow-Headers", allow))
        return STRATA_ERROR;
    if (h->max_age[0] && strata->set_header(req, "Access-Control-Max-Age", h->max_age))
        return STRATA_ERROR;
    return STRATA_OK;
}

static int headers_handle(void *inst, strata_request *req)
{
    const headers_inst *h = inst;
    const char *origin = h->n_origins ? strata->header(req, "Origin") : NULL;
    int allowed = origin && origin_allowed(h, origin);

    if (allowed && strcmp(strata->method(req), "OPTIONS") == 0 &&
        strata->header(req, "Access-Control-Request-Method")) {
        if (preflight(h, req, origin))
            return STRATA_ERROR;
    } else {
        int rc = strata->next(req);
        if (rc != STRATA_OK)
            return rc;
        if (allowed) {
            if (cors_allow(h, req, origin))
                return STRATA_ERROR;
            if (h->expose && strata->set_header(req, "Access-Control-Expose-Headers", h->expose))
                return STRATA_ERROR;
        }
    }
    /* The answer depends on Origin unless every origin gets "*". */
    if (h->n_origins && !(h->any_origin && !h->credentials) && http_vary_add(strata, req, "Origin"))
        return STRATA_ERROR;
    return apply_rules(h, req);
}

/* ---- descriptor --------------------------------------------------------- */

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "headers",
    .version = "1.0",
    .summary = "set, add and remove response headers; security preset; CORS",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = headers_options,
    .config_size = sizeof(headers_conf),
    .create = headers_create,
    .destroy = headers_destroy,
    .handle = headers_handle,
};
