/*
 * proxy — forward requests to an upstream HTTP server (libcurl).
 *
 *   [app:backend]
 *   use = proxy
 *   upstream = http://127.0.0.1:9000/v1
 *   upstream_timeout = 30
 *
 * The request goes out with its method, the path below the mount (or the
 * whole path, `strip_prefix = false`) after the upstream's own prefix, the
 * query, the body, and the headers less the hop-by-hop ones (Connection
 * and those it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-*). X-Forwarded-For gets the client appended; X-Forwarded-Proto,
 * X-Forwarded-Host and (when a mount prefix is stripped) X-Forwarded-Prefix
 * are set. The path sent is the host's normalised, decoded path encoded
 * again, never the raw one: "/public/../private/x" cannot slip past an
 * auth filter that saw "/private/x".
 *
 * The answer comes back with its status, headers (hop-by-hop and Date
 * dropped; a Location pointing into the upstream is mapped back under the
 * mount) and body, held in memory up to `max_response_size` (beyond: 502).
 * Upstream unreachable or broken: 502. Upstream too slow
 * (`upstream_timeout`, `connect_timeout`): 504.
 *
 * This plugin blocks on the network, so it is NOT declared non-blocking:
 * it always runs on the pool. Each pool thread owns a CURL easy handle
 * (thread_init), reset per request: connections to the upstream are kept
 * alive and reused per thread, with no lock shared between threads.
 */
#include "strata.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

STRATA_HOST_DECLARE;

/* ---- configuration ------------------------------------------------------ */

typedef struct proxy_conf {
    const char *upstream;
    int strip_prefix;
    int preserve_host;
    int rewrite_location;
    double upstream_timeout;
    double connect_timeout;
    int64_t max_response_size;
    const char *forwarded_proto;
} proxy_conf;

typedef struct proxy_inst {
    const strata_section *sec;
    char *origin;              /* "http://host:port"                      */
    char *prefix;              /* "/v1" or ""                              */
    int strip_prefix, preserve_host, rewrite_location;
    long timeout_ms, connect_ms;
    int64_t max_response;
    const char *proto;
} proxy_inst;

static const strata_option proxy_options[] = {
    {"upstream", STRATA_OPT_STRING, NULL, 1, offsetof(proxy_conf, upstream),
     "where to forward: http://host:port[/prefix]", NULL},
    {"strip_prefix", STRATA_OPT_BOOL, "true", 0, offsetof(proxy_conf, strip_prefix),
     "forward the path below the mount (true) or the whole path (false)", NULL},
    {"preserve_host", STRATA_OPT_BOOL, "false", 0, offsetof(proxy_conf, preserve_host),
     "send the client's Host header instead of the upstream's host:port", NULL},
    {"rewrite_location", STRATA_OPT_BOOL, "true", 0, offsetof(proxy_conf, rewrite_location),
     "map Location headers that point into the upstream back under the mount", NULL},
    {"upstream_timeout", STRATA_OPT_DOUBLE, "60", 0, offsetof(proxy_conf, upstream_timeout),
     "seconds for the whole upstream exchange before 504", "0.001..86400"},
    {"connect_timeout", STRATA_OPT_DOUBLE, "5", 0, offsetof(proxy_conf, connect_timeout),
     "seconds to connect to the upstream before 504", "0.001..3600"},
    {"max_response_size", STRATA_OPT_SIZE, "32M", 0, offsetof(proxy_conf, max_response_size),
     "larger upstream bodies are answered 502", "1.."},
    {"forwarded_proto", STRATA_OPT_ENUM, "http", 0, offsetof(proxy_conf, forwarded_proto),
     "X-Forwarded-Proto sent upstream (https when strata serves TLS)", "http|https"},
    STRATA_OPTIONS_END,
};

/* ---- small helpers ------------------------------------------------------ */

static int is_hop_by_hop(const char *name)
{
    static const char *const hop[] = {"Connection", "Keep-Alive", "TE", "Trailer",
                                      "Transfer-Encoding", "Upgrade"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return 1;
    return strncasecmp(name, "Proxy-", 6) == 0;
}

/* Is `name` listed in a Connection header value ("close, X-Foo")? */
static int in_connection(const char *conn, const char *name, size_t nlen)
{
    for (const char *p = conn; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t l = strcspn(p, ", \t");
        if (l && l == nlen && strncasecmp(p, name, nlen) == 0)
            return 1;
        p += l;
    }
    return 0;
}

/* Percent-encode what may not appear raw in a path (or query) component. */
static char *encode(strata_request *req, const char *s, int query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = strata->alloc(req, n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || strchr("-._~!$&'()*+,;=:@/", c) || (query && (c == '?' || c == '%')))
            *o++ = (char)c;
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- create / destroy -------------------------------------------------- */

static void proxy_destroy(void *p)
{
    proxy_inst *x = p;
    if (!x)
        return;
    free(x->origin);
    free(x->prefix);
    free(x);
    curl_global_cleanup();
}

/* Split "http://host:port/prefix" into origin and prefix; check its shape. */
static int parse_upstream(proxy_inst *x, const strata_section *sec, const char *u)
{
    const char *rest;
    if (strncasecmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        rest = u + 8;
    else {
        strata->config_error(sec, "upstream", "expected http://host:port[/prefix], got '%s'", u);
        return -1;
    }
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0 || rest[hl] == '?' || rest[hl] == '#' || strchr(rest, '@')) {
        strata->config_error(sec, "upstream",
                             "expected http://host:port[/prefix] without user, query or "
                             "fragment, got '%s'",
                             u);
        return -1;
    }
    for (const char *p = rest; p < rest + hl; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-._:[]", *p)) {
            strata->config_error(sec, "upstream", "bad host in '%s'", u);
            return -1;
        }
    const char *colon = memchr(rest, ':', hl);
    if (rest[0] != '[' && colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != rest + hl || port < 1 || port > 65535) {
            strata->config_error(sec, "upstream", "bad port in '%s'", u);
            return -1;
        }
    }
    size_t ol = (size_t)(rest - u) + hl;
    x->origin = strndup(u, ol);
    const char *pfx = rest + hl;
    size_t pl = strlen(pfx);
    while (pl && pfx[pl - 1] == '/')
        pl--;
    x->prefix = strndup(pfx, pl);
    if (!x->origin || !x->prefix) {
        strata->config_error(sec, "upstream", "out of memory");
        return -1;
    }
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)pfx[i] <= ' ' || pfx[i] == 127) {
            strata->config_error(sec, "upstream", "bad character in the prefix of '%s'", u);
            return -1;
        }
    return 0;
}

static int proxy_create(const strata_section *sec, const void *config, void **out)
{
    const proxy_conf *c = config;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        strata->config_error(sec, "upstream", "cannot initialise libcurl");
        return STRATA_ERROR;
    }
    proxy_inst *x = calloc(1, sizeof *x);
    if (!x) {
        curl_global_cleanup();
        return STRATA_ERROR;
    }
    x->sec = sec;
    if (parse_upstream(x, sec, c->upstream)) {
        proxy_destroy(x);
        return STRATA_ERROR;
    }
    x->strip_prefix = c->strip_prefix;
    x->preserve_host = c->preserve_host;
    x->rewrite_location = c->rewrite_location;
    x->timeout_ms = (long)(c->upstream_timeout * 1000 + 0.5);
    x->connect_ms = (long)(c->connect_timeout * 1000 + 0.5);
    if (x->timeout_ms < 1)
        x->timeout_ms = 1;
    if (x->connect_ms < 1)
        x->connect_ms = 1;
    x->max_response = c->max_response_size;
    x->proto = c->forwarded_proto;
    *out = x;
    return STRATA_OK;
}

static int proxy_thread_init(void *inst, void **slot)
{
    CURL *h = curl_easy_init();
    if (!h)
        return STRATA_ERROR;
    *slot = h;
    return STRATA_OK;
}

static void proxy_thread_fini(void *inst, void *slot)
{
    if (slot)
        curl_easy_cleanup(slot);
}

/* ---- one exchange ------------------------------------------------------- */

typedef struct resp_header {
    const char *name, *value;
    struct resp_header *next;
} resp_header;

typedef struct exchange {
    const proxy_inst *x;
    strata_request *req;
    int is_head;
    resp_header *headers, **tail;
    char *body;
    size_t len, cap;
    int too_big;
    int oom;
} exchange;

static size_t on_header(char *line, size_t size, size_t n, void *p)
{
    exchange *e = p;
    size_t len = size * n;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new status line (after a 100 Continue): start over */
        e->headers = NULL;
        e->tail = &e->headers;
        return len;
    }
    size_t l = len;
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        l--;
    const char *colon = memchr(line, ':', l);
    if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
        return len;   /* blank line, folded or malformed: skip */
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < line + l && (*v == ' ' || *v == '\t'))
        v++;
    size_t vl = (size_t)(line + l - v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    resp_header *h = strata->alloc(e->req, sizeof *h);
    char *name = strata->alloc(e->req, nl + 1);
    char *value = strata->alloc(e->req, vl + 1);
    if (!h || !name || !value) {
        e->oom = 1;
        return 0;
    }
    memcpy(name, line, nl);
    name[nl] = '\0';
    memcpy(value, v, vl);
    value[vl] = '\0';
    if (strcasecmp(name, "Content-Length") == 0 && !e->is_head) {
        long long cl = strtoll(value, NULL, 10);
        if (cl > e->x->max_response) {
            e->too_big = 1;
            return 0;
        }
        if (cl > 0 && (size_t)cl > e->cap) {   /* one allocation, no regrowth */
            char *nb = realloc(e->body, (size_t)cl);
            if (nb) {
                e->body = nb;
                e->cap = (size_t)cl;
            }
        }
    }
    h->name = name;
    h->value = value;
    h->next = NULL;
    *e->tail = h;
    e->tail = &h->next;
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
    exchange *e = p;
    size_t len = size * n;
    if ((int64_t)(e->len + len) > e->x->max_response) {
        e->too_big = 1;
        return 0;
    }
    if (e->len + len > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16384;
        while (cap < e->len + len)
            cap *= 2;
        if ((int64_t)cap > e->x->max_response)
            cap = (size_t)e->x->max_response;
        char *nb = realloc(e->body, cap);
        if (!nb) {
            e->oom = 1;
            return 0;
        }
        e->body = nb;
        e->cap = cap;
    }
    memcpy(e->body + e->len, data, len);
    e->len += len;
    return len;
}

typedef struct hdr_ctx {
    strata_request *req;
    struct curl_slist *list;
    const char *connection;
    int failed, has_accept, has_ctype;
} hdr_ctx;

static void push(hdr_ctx *c, const char *line)
{
    struct curl_slist *l = line ? curl_slist_append(c->list, line) : NULL;
    if (!l)
        c->failed = 1;
    else
        c->list = l;
}

static int copy_request_header(void *p, const char *name, const char *value)
{
    hdr_ctx *c = p;
    static const char *const ours[] = {"Host", "Content-Length", "Expect", "X-Forwarded-For",
                                       "X-Forwarded-Proto", "X-Forwarded-Host",
                                       "X-Forwarded-Prefix"};
    if (is_hop_by_hop(name) || in_connection(c->connection, name, strlen(name)))
        return 0;
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++)
        if (strcasecmp(name, ours[i]) == 0)
            return 0;
    if (strcasecmp(name, "Accept") == 0)
        c->has_accept = 1;
    if (strcasecmp(name, "Content-Type") == 0)
        c->has_ctype = 1;
    /* curl's syntax for a header with an empty value is "Name;" */
    push(c, *value ? strata->sprintf(c->req, "%s: %s", name, value)
                   : strata->sprintf(c->req, "%s;", name));
    return c->failed;
}

static struct curl_slist *request_headers(const proxy_inst *x, strata_request *req)
{
    hdr_ctx c = {req, NULL, strata->header(req, "Connection"), 0, 0, 0};
    strata->header_each(req, copy_request_header, &c);

    const char *client = strata->client(req);
    const char *xff = strata->header(req, "X-Forwarded-For");
    push(&c, xff && *xff ? strata->sprintf(req, "X-Forwarded-For: %s, %s", xff, client)
                         : strata->sprintf(req, "X-Forwarded-For: %s", client));
    push(&c, strata->sprintf(req, "X-Forwarded-Proto: %s", x->proto));
    const char *host = strata->header(req, "Host");
    if (host && *host) {
        push(&c, strata->sprintf(req, "X-Forwarded-Host: %s", host));
        if (x->preserve_host)
            push(&c, strata->sprintf(req, "Host: %s", host));
    }
    const char *script = strata->script_name(req);
    if (x->strip_prefix && script && *script)
        push(&c, strata->sprintf(req, "X-Forwarded-Prefix: %s", script));
    /* curl adds these on its own unless told not to */
    push(&c, "Expect:");
    if (!c.has_accept)
        push(&c, "Accept:");
    if (!c.has_ctype)
        push(&c, "Content-Type:");
    if (c.failed) {
        curl_slist_free_all(c.list);
        return NULL;
    }
    return c.list;
}

/* http://upstream/prefix + path (+ ?query) */
static const char *target_url(const proxy_inst *x, strata_request *req)
{
    const char *path = strata->path(req);
    if (!x->strip_prefix) {
        const char *script = strata->script_name(req);
        if (script && *script)
            path = strcmp(path, "/") == 0 ? script : strata->sprintf(req, "%s%s", script, path);
    }
    if (!path)
        return NULL;
    if (*x->prefix && strcmp(path, "/") == 0) {
        /* the mount itself: /api -> /v1, but /api/ -> /v1/ */
        const char *u = strata->uri(req);
        size_t ul = u ? strcspn(u, "?#") : 0;
        if (!ul || u[ul - 1] != '/')
            path = "";
    }
    const char *ep = encode(req, path, 0);
    const char *q = strata->query(req);
    const char *eq = q ? encode(req, q, 1) : NULL;
    if (!ep || (q && !eq))
        return NULL;
    const char *p = *x->prefix || *ep ? ep : "/";
    return eq ? strata->sprintf(req, "%s%s%s?%s", x->origin, x->prefix, p, eq)
              : strata->sprintf(req, "%s%s%s", x->origin, x->prefix, p);
}

/* A Location into the upstream ("http://up:9000/v1/x") back under the
 * mount ("/api/x"); anything else unchanged. */
static const char *map_location(const proxy_inst *x, strata_request *req, const char *loc)
{
    size_t ol = strlen(x->origin), pl = strlen(x->prefix);
    if (strncasecmp(loc, x->origin, ol) != 0 || strncmp(loc + ol, x->prefix, pl) != 0)
        return loc;
    const char *rest = loc + ol + pl;
    if (*rest && *rest != '/' && *rest != '?' && *rest != '#')
        return loc;   /* /v10 is not under /v1 */
    const char *mount = x->strip_prefix ? strata->script_name(req) : "";
    if (!*mount && (!*rest || *rest == '?' || *rest == '#'))
        return strata->sprintf(req, "/%s", rest);
    return strata->sprintf(req, "%s%s", mount, rest);
}

static int answer_error(const proxy_inst *x, strata_request *req, int status, const char *why)
{
    strata->log(x->sec, STRATA_LOG_WARN, "%s %s: %s", strata->method(req), strata->path(req), why);
    const char *text = status == 504 ? "504 Gateway Timeout\n" : "502 Bad Gateway\n";
    return strata->respond(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static int proxy_handle(void *inst, strata_request *req)
{
    const proxy_inst *x = inst;
    CURL *own = NULL, *h = strata->thread_data(req);
    if (!h && !(h = own = curl_easy_init()))
        return STRATA_ERROR;
    curl_easy_reset(h);   /* options go, live connections stay */

    const char *method = strata->method(req);
    exchange e = {x, req, strcmp(method, "HEAD") == 0, NULL, NULL, NULL, 0, 0, 0, 0};
    e.tail = &e.headers;
    char errbuf[CURL_ERROR_SIZE] = "";
    const char *url = target_url(x, req);
    struct curl_slist *hdrs = url ? request_headers(x, req) : NULL;
    int rc = STRATA_ERROR;
    if (!url || !hdrs)
        goto out;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_HTTP_CONTENT_DECODING, 0L);   /* pass gzip through */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, x->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, x->connect_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_response);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &e);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &e);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    size_t blen = 0;
    const void *body = strata->body(req, &blen);
    if (e.is_head) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (blen || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
               strcmp(method, "PATCH") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, blen ? body : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (e.oom)
            goto out;
        if (e.too_big || cc == CURLE_FILESIZE_EXCEEDED)
            rc = answer_error(x, req, 502,
                              strata->sprintf(req, "upstream response larger than "
                                                   "max_response_size (%lld bytes)",
                                              (long long)x->max_response));
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            rc = answer_error(x, req, 504, strata->sprintf(req, "upstream %s: %s", x->origin,
                                                           errbuf[0] ? errbuf
                                                                     : curl_easy_strerror(cc)));
        else
            rc = answer_error(x, req, 502, strata->sprintf(req, "upstream %s: %s", x->origin,
                                                           errbuf[0] ? errbuf
                                                                     : curl_easy_strerror(cc)));
        goto out;
    }

    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 100 || status > 999) {
        rc = answer_error(x, req, 502, "upstream sent no valid status");
        goto out;
    }
    strata->set_status(req, (int)status);
    const char *conn = NULL;
    for (resp_header *r = e.headers; r; r = r->next)
        if (strcasecmp(r->name, "Connection") == 0)
            conn = r->value;
    rc = STRATA_OK;
    for (resp_header *r = e.headers; r && rc == STRATA_OK; r = r->next) {
        /* the host frames the body; a HEAD answer keeps the upstream's
         * length, the only one there is */
        if (is_hop_by_hop(r->name) || in_connection(conn, r->name, strlen(r->name)) ||
            (strcasecmp(r->name, "Content-Length") == 0 && !e.is_head) ||
            strcasecmp(r->name, "Date") == 0)
            continue;
        const char *v = r->value;
        if (x->rewrite_location && strcasecmp(r->name, "Location") == 0)
            v = map_location(x, req, v);
        if (!v || strata->add_header(req, r->name, v))
            rc = STRATA_ERROR;
    }
    if (rc != STRATA_OK)
        goto out;
    if (e.body) {
        if (strata->set_body(req, e.body, e.len, STRATA_BODY_FREE) == STRATA_OK)
            e.body = NULL;
        else
            rc = STRATA_ERROR;
    } else if (!e.is_head && status != 204 && status != 304) {
        rc = strata->set_body(req, "", 0, STRATA_BODY_STATIC);
    }
out:
    free(e.body);
    curl_slist_free_all(hdrs);
    /* the handle must not keep pointers into this request */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (own)
        curl_easy_cleanup(own);
    return rc;
}

/* ---- descriptor --------------------------------------------------------- */

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "proxy",
    .version = "1.0",
    .summary = "forward requests to an upstream HTTP server",
    .kind = STRATA_APP,
    .flags = 0,   /* blocks on the network: always on the pool */
    .host = &strata,
    .options = proxy_options,
    .config_size = sizeof(proxy_conf),
    .create = proxy_create,
    .destroy = proxy_destroy,
    .thread_init = proxy_thread_init,
    .thread_fini = proxy_thread_fini,
    .handle = proxy_handle,
};
