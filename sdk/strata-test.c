/* strata-test.c — the SDK test kit: a host table for unit tests.
 * It reuses the host's own request and option code (host/request.c,
 * host/options.c), so a plugin sees exactly what the server would give it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"
#include "../host/options.h"
#include "../host/request.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct strata_section {
    char name[128];
    const char *dir;
};

/* thread_init's slot, one per (instance, OS thread), as the host keeps them. */
struct kit_slot {
    pthread_t tid;
    void *slot;
    int ok;
    struct kit_slot *next;
};

struct stt_instance {
    const struct strata_plugin *plugin;
    struct strata_section sec;
    void *config;
    struct optstore store;
    void *inst;
    pthread_mutex_t mu;
    struct kit_slot *slots;
};

/* What the kit keeps per request beside struct strata_request. */
struct kit_req {
    struct strata_request r;       /* first: the kit casts between them */
    struct header *in;             /* request headers                  */
    int may_block;
    int next_calls;
    int (*next_fn)(strata_request *, void *);
    void *next_ctx;
    stt_instance *running;
    char *read_body;
    strata_timing fake[16];        /* stt_timing() */
    int n_fake;
    int depth;
};

static char last_error[1024];
static char *log_buf;
static size_t log_len;
static stt_instance *current;

static struct kit_req *K(strata_request *r) { return (struct kit_req *)r; }

/* ---- logging and config errors ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void log_append(const char *line)
{
    size_t n = strlen(line);
    pthread_mutex_lock(&log_mu);
    char *nb = realloc(log_buf, log_len + n + 2);
    if (!nb) {
        pthread_mutex_unlock(&log_mu);
        return;
    }
    log_buf = nb;
    memcpy(log_buf + log_len, line, n);
    log_len += n;
    log_buf[log_len++] = '\n';
    log_buf[log_len] = '\0';
    pthread_mutex_unlock(&log_mu);
}

static void kit_config_error(const strata_section *sec, const char *key, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(last_error, sizeof last_error, "[%s] %s: %s", sec ? sec->name : "?",
             key ? key : "", msg);
    log_append(last_error);
}

static void kit_log(const strata_section *sec, int level, const char *fmt, ...)
{
    char msg[1024], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "[%s] %s", sec ? sec->name : "?", msg);
    log_append(line);
}

static const char *kit_section_name(const strata_section *sec) { return sec->name; }
static const char *kit_config_dir(const strata_section *sec) { return sec->dir ? sec->dir : "."; }
static void kit_watch_file(const strata_section *sec, const char *path) { (void)sec; (void)path; }

const char *stt_last_error(void) { return last_error; }
const char *stt_log_text(void) { return log_buf ? log_buf : ""; }
void stt_log_clear(void)
{
    free(log_buf);
    log_buf = NULL;
    log_len = 0;
    last_error[0] = '\0';
}

/* ---- request headers ---- */

static const char *kit_header(void *src, const char *name)
{
    for (struct header *h = K(src)->in; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static int kit_header_each(void *src, int (*cb)(void *, const char *, const char *), void *ctx)
{
    int n = 0;
    for (struct header *h = K(src)->in; h; h = h->next, n++)
        if (cb(ctx, h->name, h->value))
            return n + 1;
    return n;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Decode %XX and (for queries) '+' into an arena copy. */
static char *decode(struct strata_request *r, const char *s, size_t n, int plus)
{
    char *d = arena_alloc(&r->arena, n + 1), *o = d;
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n &&
            hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0) {
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else if (plus && s[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return d;
}

static const char *kit_query_arg(void *src, const char *name)
{
    struct strata_request *r = src;
    const char *q = r->query;
    size_t nl = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t kl = eq ? (size_t)(eq - q) : len;
        if (kl == nl && strncmp(q, name, nl) == 0)
            return eq ? decode(r, eq + 1, len - kl - 1, 1) : "";
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static const struct request_source kit_source = {kit_header, kit_header_each, kit_query_arg};

/* ---- the onion, faked ---- */

int stt_next(strata_request *req);

static int kit_next(strata_request *req)
{
    struct kit_req *k = K(req);
    k->next_calls++;
    if (k->next_fn)
        return k->next_fn(req, k->next_ctx);
    return stt_next(req);
}

/* The default downstream: (status, body) from will_return(stt_next, ...). */
int stt_next(strata_request *req)
{
    int status = mock_type(int);
    const char *body = mock_ptr_type(const char *);
    req->status = status;
    if (body)
        request_respond(req, status, NULL, body, strlen(body));
    return STRATA_OK;
}

static int kit_may_block(strata_request *req) { return K(req)->may_block; }

static void *kit_thread_data(strata_request *req)
{
    stt_instance *i = K(req)->running ? K(req)->running : current;
    if (!i)
        return NULL;
    pthread_t me = pthread_self();
    pthread_mutex_lock(&i->mu);
    struct kit_slot *ks = i->slots;
    while (ks && !pthread_equal(ks->tid, me))
        ks = ks->next;
    if (!ks && (ks = calloc(1, sizeof *ks))) {
        ks->tid = me;
        ks->ok = !i->plugin->thread_init || i->plugin->thread_init(i->inst, &ks->slot) == STRATA_OK;
        ks->next = i->slots;
        i->slots = ks;
    }
    pthread_mutex_unlock(&i->mu);
    return ks && ks->ok ? ks->slot : NULL;
}

static int64_t kit_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int kit_timings(strata_request *req, strata_timing *out, int max)
{
    int n = 0;
    for (; n < K(req)->n_fake && n < max; n++)
        out[n] = K(req)->fake[n];
    return n;
}

static int kit_stage_depth(strata_request *req) { return K(req)->depth; }

static int64_t kit_elapsed_ns(strata_request *req)
{
    int64_t d = kit_now_ns() - req->start_ns;
    return d > 0 ? d : 0;
}

void stt_timing(strata_request *req, const char *section, const char *plugin, int depth,
                int64_t total_ns, int64_t self_ns, int64_t cpu_ns)
{
    struct kit_req *k = K(req);
    if (k->n_fake < 16)
        k->fake[k->n_fake++] = (strata_timing){section, plugin, depth, total_ns, self_ns, cpu_ns};
}

void stt_stage_depth(strata_request *req, int depth) { K(req)->depth = depth; }
static int kit_workers(strata_worker_info *out, int max) { return 0; }
static int kit_threads(strata_thread_info *out, int max) { return 0; }
static int kit_instances(strata_instance_info *out, int max) { return 0; }
static const char *kit_version(void) { return "test-kit"; }

static struct strata_host kit_table;

const strata_host *stt_host(void)
{
    if (!kit_table.abi_major) {
        kit_table.abi_major = STRATA_ABI_MAJOR;
        kit_table.abi_minor = STRATA_ABI_MINOR;
        kit_table.struct_size = sizeof kit_table;
        request_fill_api(&kit_table);
        kit_table.config_error = kit_config_error;
        kit_table.section_name = kit_section_name;
        kit_table.config_dir = kit_config_dir;
        kit_table.watch_file = kit_watch_file;
        kit_table.log = kit_log;
        kit_table.next = kit_next;
        kit_table.may_block = kit_may_block;
        kit_table.thread_data = kit_thread_data;
        kit_table.now_ns = kit_now_ns;
        kit_table.timings = kit_timings;
        kit_table.stage_depth = kit_stage_depth;
        kit_table.workers = kit_workers;
        kit_table.threads = kit_threads;
        kit_table.instances = kit_instances;
        kit_table.host_version = kit_version;
        kit_table.elapsed_ns = kit_elapsed_ns;
    }
    return &kit_table;
}

/* ---- instances ---- */

struct kv_ctx {
    const char *const *kv;
};

static const char *kv_get(void *ctx, const char *key)
{
    for (const char *const *p = ((struct kv_ctx *)ctx)->kv; p && p[0]; p += 2)
        if (strcasecmp(p[0], key) == 0)
            return p[1];
    return NULL;
}

stt_instance *stt_createv(const struct strata_plugin *p, const char *config_dir, const char *const *kv)
{
    last_error[0] = '\0';
    stt_instance *i = calloc(1, sizeof *i);
    if (!i)
        return NULL;
    i->plugin = p;
    pthread_mutex_init(&i->mu, NULL);
    snprintf(i->sec.name, sizeof i->sec.name, "%s:%s",
             p->kind == STRATA_FILTER ? "filter" : "app", p->name ? p->name : "test");
    i->sec.dir = config_dir;
    if (p->host)
        *p->host = stt_host();
    for (const char *const *q = kv; q && q[0]; q += 2)
        if (!options_find(p->options, q[0])) {
            kit_config_error(&i->sec, q[0], "unknown option for plugin '%s'", p->name);
            free(i);
            return NULL;
        }
    i->config = calloc(1, p->config_size ? p->config_size : 1);
    const char *bad = NULL;
    char err[512];
    struct kv_ctx ctx = {kv};
    if (!i->config || options_apply(p->options, i->config, kv_get, &ctx, config_dir, &i->store,
                                    &bad, err, sizeof err) != 0) {
        kit_config_error(&i->sec, bad, "%s", err);
        optstore_free(&i->store);
        free(i->config);
        free(i);
        return NULL;
    }
    current = i;
    if (p->create && p->create(&i->sec, i->config, &i->inst) != STRATA_OK) {
        if (!last_error[0])
            kit_config_error(&i->sec, NULL, "create failed");
        optstore_free(&i->store);
        free(i->config);
        free(i);
        current = NULL;
        return NULL;
    }
    return i;
}

stt_instance *stt_create(const struct strata_plugin *p, const char *config_dir, ...)
{
    const char *kv[128];
    size_t n = 0;
    va_list ap;
    va_start(ap, config_dir);
    for (const char *s; n < 126 && (s = va_arg(ap, const char *));)
        kv[n++] = s;
    va_end(ap);
    kv[n] = kv[n + 1] = NULL;
    return stt_createv(p, config_dir, kv);
}

void stt_destroy(stt_instance *i)
{
    if (!i)
        return;
    for (struct kit_slot *ks = i->slots, *next; ks; ks = next) {
        next = ks->next;
        if (ks->ok && i->plugin->thread_fini)
            i->plugin->thread_fini(i->inst, ks->slot);
        free(ks);
    }
    pthread_mutex_destroy(&i->mu);
    if (i->plugin->destroy)
        i->plugin->destroy(i->inst);
    if (current == i)
        current = NULL;
    optstore_free(&i->store);
    free(i->config);
    free(i);
}

void *stt_inst(stt_instance *i) { return i->inst; }

/* ---- requests ---- */

strata_request *stt_request(const char *method, const char *uri)
{
    struct kit_req *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    struct strata_request *r = &k->r;
    request_init(r);
    r->method = arena_strdup(&r->arena, method);
    r->uri = arena_strdup(&r->arena, uri);
    r->version = "HTTP/1.1";
    r->client = "127.0.0.1";
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);
    r->path = decode(r, uri, plen, 0);
    r->query = q ? arena_strdup(&r->arena, q + 1) : NULL;
    r->source = &kit_source;
    r->src = k;
    r->on_pool = 1;
    k->may_block = 1;
    r->start_ns = kit_now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->start_unix_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return r;
}

void stt_header(strata_request *req, const char *name, const char *value)
{
    struct header *h = arena_alloc(&req->arena, sizeof *h);
    h->name = arena_strdup(&req->arena, name);
    h->value = arena_strdup(&req->arena, value);
    h->next = NULL;
    struct header **pp = &K(req)->in;
    while (*pp)
        pp = &(*pp)->next;
    *pp = h;
}

void stt_body(strata_request *req, const void *data, size_t len)
{
    char *b = arena_alloc(&req->arena, len + 1);
    memcpy(b, data, len);
    b[len] = '\0';
    req->body_in = b;
    req->body_in_len = len;
}

void stt_client(strata_request *req, const char *addr) { req->client = arena_strdup(&req->arena, addr); }

void stt_mount(strata_request *req, const char *script_name)
{
    size_t n = strlen(script_name);
    if (strncmp(req->path, script_name, n) == 0) {
        req->script_name = arena_strdup(&req->arena, script_name);
        req->path = req->path[n] ? req->path + n : "/";
    }
}

void stt_may_block(strata_request *req, int may_block)
{
    K(req)->may_block = may_block;
    req->on_pool = may_block;
}

void stt_var(strata_request *req, const char *name, const char *value)
{
    kit_table.var_set(req, name, value);
}

void stt_on_next(strata_request *req, int (*fn)(strata_request *, void *), void *ctx)
{
    K(req)->next_fn = fn;
    K(req)->next_ctx = ctx;
}

int stt_run(stt_instance *i, strata_request *req)
{
    K(req)->running = i;
    int rc = i->plugin->handle(i->inst, req);
    K(req)->running = NULL;
    return rc;
}

int stt_next_calls(strata_request *req) { return K(req)->next_calls; }

void stt_complete(stt_instance *i, strata_request *req, int sent_ok)
{
    if (!i->plugin->on_complete)
        return;
    K(req)->running = i;
    i->plugin->on_complete(i->inst, req, sent_ok);
    K(req)->running = NULL;
}

void stt_event(stt_instance *i, int event)
{
    if (i->plugin->on_event)
        i->plugin->on_event(i->inst, event);
}

int stt_status(strata_request *req) { return req->status; }

const char *stt_header_out(strata_request *req, const char *name)
{
    return kit_table.resp_header(req, name);
}

const char *stt_body_out(strata_request *req, size_t *len)
{
    if (req->body_kind == BODY_FD) {
        struct kit_req *k = K(req);
        free(k->read_body);
        k->read_body = malloc(req->body_len + 1);
        if (!k->read_body)
            return NULL;
        ssize_t n = pread(req->body_fd, k->read_body, req->body_len, (off_t)req->body_off);
        size_t got = n > 0 ? (size_t)n : 0;
        k->read_body[got] = '\0';
        if (len)
            *len = got;
        return k->read_body;
    }
    if (req->body_kind == BODY_NONE) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = req->body_len;
    return req->body;
}

int stt_body_is_fd(strata_request *req) { return req->body_kind == BODY_FD; }

const char *stt_var_out(strata_request *req, const char *name) { return kit_table.var_get(req, name); }

void stt_free(strata_request *req)
{
    if (!req)
        return;
    struct kit_req *k = K(req);
    free(k->read_body);
    request_fini(req);
    free(k);
}
