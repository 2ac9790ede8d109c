/* request.c — what a plugin can ask of and set on a request.
 * Everything lives in the request's arena; nothing here locks. */
#include "request.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void request_init(struct strata_request *r)
{
    memset(r, 0, offsetof(struct strata_request, timings));
    arena_init(&r->arena, r->arena_inline, sizeof r->arena_inline);
    r->resp_tail = &r->resp_headers;
    r->body_fd = -1;
    r->script_name = "";
    r->cur_t = -1;
    r->route = "/";
}

void request_clear_body(struct strata_request *r)
{
    if (r->body_kind == BODY_MEM && r->body_release)
        r->body_release(r->body_release_arg);
    else if (r->body_kind == BODY_FD && r->body_fd >= 0)
        close(r->body_fd);
    r->body_kind = BODY_NONE;
    r->body = NULL;
    r->body_len = 0;
    r->body_release = NULL;
    r->body_release_arg = NULL;
    r->body_fd = -1;
    r->body_off = 0;
}

void request_clear_response(struct strata_request *r)
{
    request_clear_body(r);
    r->status = 0;
    r->resp_headers = NULL;
    r->resp_tail = &r->resp_headers;
}

void request_reset_response(struct strata_request *r)
{
    request_clear_response(r);
    r->vars = NULL;
    r->n_timings = 0;
    r->depth = 0;
    r->pos = 0;
}

void request_fini(struct strata_request *r)
{
    request_clear_body(r);
    arena_release(&r->arena);
}

/* ---- input ---- */

static const char *rq_method(strata_request *r) { return r->method; }
static const char *rq_path(strata_request *r) { return r->path; }
static const char *rq_script_name(strata_request *r) { return r->script_name; }
static const char *rq_uri(strata_request *r) { return r->uri; }
static const char *rq_query(strata_request *r) { return r->query; }
static const char *rq_version(strata_request *r) { return r->version; }
static const char *rq_client(strata_request *r) { return r->client; }

static const char *rq_header(strata_request *r, const char *name)
{
    return r->source ? r->source->header(r->src, name) : NULL;
}

static int rq_header_each(strata_request *r, int (*cb)(void *, const char *, const char *),
                          void *ctx)
{
    return r->source ? r->source->header_each(r->src, cb, ctx) : 0;
}

static const char *rq_query_arg(strata_request *r, const char *name)
{
    return r->source ? r->source->query_arg(r->src, name) : NULL;
}

static const void *rq_body(strata_request *r, size_t *len)
{
    if (len)
        *len = r->body_in_len;
    return r->body_in;
}

/* ---- response ---- */

static void rq_set_status(strata_request *r, int status) { r->status = status; }
static int rq_status(strata_request *r) { return r->status; }

/* A header the host can send as given: a token name, a value with no CR
 * or LF (no header splitting). Returns the name's length, or 0. */
static size_t valid_header(const char *name, const char *value, size_t *value_len)
{
    if (!name || !value)
        return 0;
    /* RFC 9110 token characters */
    static const unsigned char tchar[256] = {
        ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
        ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
        ['~'] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
        ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
        ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
        ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
        ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
        ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
        ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
        ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    };
    size_t n = 0;
    while (tchar[(unsigned char)name[n]])
        n++;
    if (name[n])
        return 0;
    size_t v = strcspn(value, "\r\n");
    if (value[v])
        return 0;
    *value_len = v;
    return n;
}

/* One arena block per header: the struct, then name and value. */
static int add_checked(strata_request *r, const char *name, size_t nl, const char *value,
                       size_t vl)
{
    struct header *h = arena_alloc(&r->arena, sizeof *h + nl + vl + 2);
    if (!h)
        return STRATA_ERROR;
    char *p = (char *)(h + 1);
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, value, vl + 1);
    h->name = p;
    h->value = p + nl + 1;
    h->next = NULL;
    *r->resp_tail = h;
    r->resp_tail = &h->next;
    return STRATA_OK;
}

int request_add_header(strata_request *r, const char *name, const char *value)
{
    size_t vl, nl = valid_header(name, value, &vl);
    return nl ? add_checked(r, name, nl, value, vl) : STRATA_ERROR;
}

static int rq_remove_header(strata_request *r, const char *name)
{
    int n = 0;
    struct header **pp = &r->resp_headers;
    r->resp_tail = &r->resp_headers;
    while (*pp) {
        if (strcasecmp((*pp)->name, name) == 0) {
            *pp = (*pp)->next;
            n++;
        } else {
            r->resp_tail = &(*pp)->next;
            pp = &(*pp)->next;
        }
    }
    return n;
}

static int rq_set_header(strata_request *r, const char *name, const char *value)
{
    size_t vl, nl = valid_header(name, value, &vl);
    if (!nl)
        return STRATA_ERROR;
    rq_remove_header(r, name);
    return add_checked(r, name, nl, value, vl);
}

static const char *rq_resp_header(strata_request *r, const char *name)
{
    for (struct header *h = r->resp_headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static int rq_resp_header_each(strata_request *r, int (*cb)(void *, const char *, const char *),
                               void *ctx)
{
    int n = 0;
    for (struct header *h = r->resp_headers; h; h = h->next, n++)
        if (cb(ctx, h->name, h->value))
            return n + 1;
    return n;
}

static int rq_set_body(strata_request *r, const void *data, size_t len, int mode)
{
    if (!data && len)
        return STRATA_ERROR;
    const void *keep = data;
    if (mode == STRATA_BODY_COPY && len) {
        void *c = arena_alloc(&r->arena, len);
        if (!c)
            return STRATA_ERROR;
        memcpy(c, data, len);
        keep = c;
    }
    request_clear_body(r);
    r->body_kind = BODY_MEM;
    r->body = keep;
    r->body_len = len;
    if (mode == STRATA_BODY_FREE) {
        r->body_release = free;
        r->body_release_arg = (void *)data;
    }
    return STRATA_OK;
}

static int rq_set_body_ref(strata_request *r, const void *data, size_t len,
                           void (*release)(void *), void *arg)
{
    if (!data && len)
        return STRATA_ERROR;
    request_clear_body(r);
    r->body_kind = BODY_MEM;
    r->body = data;
    r->body_len = len;
    r->body_release = release;
    r->body_release_arg = arg;
    return STRATA_OK;
}

static int rq_set_body_fd(strata_request *r, int fd, uint64_t off, uint64_t len)
{
    if (fd < 0)
        return STRATA_ERROR;
    request_clear_body(r);
    r->body_kind = BODY_FD;
    r->body_fd = fd;
    r->body_off = off;
    r->body_len = (size_t)len;
    return STRATA_OK;
}

static const void *rq_resp_body(strata_request *r, size_t *len)
{
    if (r->body_kind != BODY_MEM || r->handed) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->body_len;
    return r->body ? r->body : "";
}

static int rq_resp_body_fd(strata_request *r, uint64_t *off, uint64_t *len)
{
    if (r->body_kind != BODY_FD)
        return -1;
    if (off)
        *off = r->body_off;
    if (len)
        *len = r->body_len;
    return r->body_fd;
}

static int64_t rq_resp_length(strata_request *r)
{
    return r->body_kind == BODY_NONE ? -1 : (int64_t)r->body_len;
}

int request_respond(struct strata_request *r, int status, const char *ctype,
                    const void *body, size_t len)
{
    r->status = status;
    if (ctype && rq_set_header(r, "Content-Type", ctype) != STRATA_OK)
        return STRATA_ERROR;
    return rq_set_body(r, body, len, STRATA_BODY_COPY);
}

/* ---- memory and variables ---- */

static void *rq_alloc(strata_request *r, size_t size) { return arena_alloc(&r->arena, size); }

static char *rq_sprintf(strata_request *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vsprintf(&r->arena, fmt, ap);
    va_end(ap);
    return s;
}

static int rq_var_set(strata_request *r, const char *name, const char *value)
{
    for (struct var *v = r->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0) {
            v->value = arena_strdup(&r->arena, value);
            return v->value || !value ? STRATA_OK : STRATA_ERROR;
        }
    struct var *v = arena_alloc(&r->arena, sizeof *v);
    if (!v || !(v->name = arena_strdup(&r->arena, name)))
        return STRATA_ERROR;
    v->value = arena_strdup(&r->arena, value);
    v->next = r->vars;
    r->vars = v;
    return STRATA_OK;
}

static const char *rq_var_get(strata_request *r, const char *name)
{
    for (struct var *v = r->vars; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v->value;
    if (strcmp(name, STRATA_VAR_ROUTE) == 0)
        return r->route;
    return NULL;
}

static int64_t rq_start_ns(strata_request *r) { return r->start_ns; }
static int64_t rq_start_unix_us(strata_request *r) { return r->start_unix_us; }

void request_fill_api(struct strata_host *t)
{
    t->method = rq_method;
    t->path = rq_path;
    t->script_name = rq_script_name;
    t->uri = rq_uri;
    t->query = rq_query;
    t->query_arg = rq_query_arg;
    t->version = rq_version;
    t->header = rq_header;
    t->header_each = rq_header_each;
    t->client = rq_client;
    t->body = rq_body;
    t->set_status = rq_set_status;
    t->status = rq_status;
    t->set_header = rq_set_header;
    t->add_header = request_add_header;
    t->remove_header = rq_remove_header;
    t->resp_header = rq_resp_header;
    t->resp_header_each = rq_resp_header_each;
    t->set_body = rq_set_body;
    t->set_body_ref = rq_set_body_ref;
    t->set_body_fd = rq_set_body_fd;
    t->resp_body = rq_resp_body;
    t->resp_body_fd = rq_resp_body_fd;
    t->resp_length = rq_resp_length;
    t->respond = request_respond;
    t->alloc = rq_alloc;
    t->sprintf = rq_sprintf;
    t->var_set = rq_var_set;
    t->var_get = rq_var_get;
    t->start_ns = rq_start_ns;
    t->start_unix_us = rq_start_unix_us;
}
