/* server.c — libmicrohttpd in, pipeline out.
 *
 * A request's first handler call only records it (queuing a response on
 * the first call makes MHD 0.9.75 close the connection). On the last call
 * the pipeline runs inline on the I/O thread; if a stage may block the
 * pipeline yields, the connection is suspended and the request goes to
 * the pool, whose thread resumes the connection when the answer is ready.
 * MHD then calls the handler again and the answer is queued. */
#include "server.h"
#include "log.h"
#include "path.h"
#include "pipeline.h"
#include "pool.h"
#include "request.h"
#include "scoreboard.h"
#include <microhttpd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per connection: when it began waiting for a request's headers (0 while
 * a request is being handled). The sweep cuts connections whose headers
 * take longer than connection_timeout in total, which MHD's own timeout
 * (reset on every byte) does not. The mutex only orders the sweep's
 * shutdown() against MHD closing that fd. */
struct conn_slot {
    pthread_mutex_t mu;
    _Atomic int64_t since;
    int open;
};

struct server {
    struct MHD_Daemon *d;
    struct runtime *rt;
    struct pool *pool;
    const struct server_cfg *cfg;
    _Atomic int active;            /* requests between start and completion */
    _Atomic int draining;          /* stopping: answers close the connection */
    struct conn_slot *conns;
    int n_conns;
    _Atomic int max_fd;            /* highest connection fd seen: the sweep's bound */
    int64_t header_deadline_ns;
};

struct req_state {
    struct server *srv;
    struct MHD_Connection *conn;
    int started, done, yielded, too_large, bad;
    int fd;                        /* the connection's socket, for the sweep */
    char *body;
    size_t body_len, body_cap;
    struct strata_request r;       /* last: ends with the inline arena */
};

static struct server *the_server;

/* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed by the sweep: one clock read
 * per request instead of two. */
static _Atomic int64_t wall_offset_ns;

static void wall_offset_update(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&wall_offset_ns, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - now_ns());
}
const struct runtime *server_runtime(void) { return the_server ? the_server->rt : NULL; }

/* ---- request headers for request.c ---- */

static const char *mhd_header(void *src, const char *name)
{
    return MHD_lookup_connection_value(((struct req_state *)src)->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
    int (*cb)(void *, const char *, const char *);
    void *ctx;
    int n, stop;
};

static enum MHD_Result each_kv(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    struct each_ctx *e = cls;
    e->n++;
    if (e->cb(e->ctx, k, v ? v : "")) {
        e->stop = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

static int mhd_header_each(void *src, int (*cb)(void *, const char *, const char *), void *ctx)
{
    struct each_ctx e = {cb, ctx, 0, 0};
    MHD_get_connection_values(((struct req_state *)src)->conn, MHD_HEADER_KIND, each_kv, &e);
    return e.n;
}

static const char *mhd_query_arg(void *src, const char *name)
{
    return MHD_lookup_connection_value(((struct req_state *)src)->conn, MHD_GET_ARGUMENT_KIND,
                                       name);
}

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    *(size_t *)cls += strlen(k) + (v ? strlen(v) : 0) + 4;
    return MHD_YES;
}

/* The request line and headers as sent, near enough: name, ": ", value, CRLF. */
static size_t header_size(struct MHD_Connection *conn, const char *uri)
{
    size_t n = uri ? strlen(uri) + 16 : 16;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_size, &n);
    return n;
}

static const struct request_source mhd_source = {mhd_header, mhd_header_each, mhd_query_arg};

/* ---- answering ---- */

/* Content-Length, Transfer-Encoding, Connection: MHD's to write. */
static int is_framing(const char *name)
{
    switch (name[0] | 0x20) {
    case 'c':
        return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0;
    case 't':
        return strcasecmp(name, "Transfer-Encoding") == 0;
    default:
        return 0;
    }
}

static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result queue(struct req_state *st)
{
    struct strata_request *r = &st->r;
    struct MHD_Response *resp = NULL;
    if (r->body_kind == BODY_FD) {
        resp = MHD_create_response_from_fd_at_offset64(r->body_len, r->body_fd, r->body_off);
        if (resp)
            r->body_fd = -1;           /* MHD's now; kind and length stay readable */
    } else if (r->body_kind == BODY_MEM && r->body_release) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            r->body_len, (void *)r->body, r->body_release, r->body_release_arg);
        if (resp)
            r->body_release = NULL;    /* MHD releases it; kind and length stay readable */
    } else if (r->body_kind == BODY_MEM) {
        resp = MHD_create_response_from_buffer(r->body_len, (void *)r->body,
                                               MHD_RESPMEM_PERSISTENT);
    } else {
        const char *cl = NULL;
        for (struct header *h = r->resp_headers; h && !cl; h = h->next)
            if (strcasecmp(h->name, "Content-Length") == 0)
                cl = h->value;
        if (cl && r->method && strcmp(r->method, "HEAD") == 0)
            /* A HEAD answer's length describes the GET body: MHD never calls the reader. */
            resp = MHD_create_response_from_callback(strtoull(cl, NULL, 10), 4096, no_body, NULL, NULL);
        else
            resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    r->handed = 1;
    for (struct header *h = r->resp_headers; h; h = h->next) {
        /* MHD owns framing: length, chunking and the connection. */
        if (is_framing(h->name))
            continue;
        MHD_add_response_header(resp, h->name, h->value);
    }
    if (atomic_load_explicit(&st->srv->draining, memory_order_relaxed))
        MHD_add_response_header(resp, "Connection", "close");
    int status = r->status >= 100 && r->status <= 999 ? r->status : 500;
    enum MHD_Result ok = MHD_queue_response(st->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result answer_now(struct req_state *st, int status, const char *text)
{
    request_clear_response(&st->r);
    request_respond(&st->r, status, "text/plain; charset=utf-8", text, strlen(text));
    return queue(st);
}

static void run_on_pool(void *item)
{
    struct req_state *st = item;
    st->r.on_pool = 1;
    scoreboard_begin(&st->r);
    pipeline_run(&st->r, st->srv->rt);
    scoreboard_end(st->r.status);
    st->done = 1;
    MHD_resume_connection(st->conn);
}

/* Request states are recycled per I/O thread: a connection stays on one
 * MHD thread, which both makes (on_uri) and ends (on_completed) its
 * requests, so the list needs no lock; a state is ~6 KB, past malloc's
 * fast path. */
#define FREE_STATES 64
static __thread struct req_state *free_states[FREE_STATES];
static __thread int n_free_states;

static pthread_key_t states_key;
static pthread_once_t states_once = PTHREAD_ONCE_INIT;

static void states_free(void *unused)
{
    while (n_free_states)
        free(free_states[--n_free_states]);
}

static void states_key_init(void) { pthread_key_create(&states_key, states_free); }

static struct req_state *state_get(void)
{
    return n_free_states ? free_states[--n_free_states] : malloc(sizeof(struct req_state));
}

static void state_put(struct req_state *st)
{
    if (n_free_states == 0) {              /* the thread's exit frees the list */
        pthread_once(&states_once, states_key_init);
        pthread_setspecific(states_key, free_states);
    }
    if (n_free_states < FREE_STATES)
        free_states[n_free_states++] = st;
    else
        free(st);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct server *s = cls;
    struct req_state *st = state_get();
    if (!st)
        return NULL;
    memset(st, 0, offsetof(struct req_state, r));
    request_init(&st->r);
    st->srv = s;
    st->conn = conn;
    st->r.uri = arena_strdup(&st->r.arena, uri);
    pipeline_mark_start(&st->r);
    st->r.start_unix_us = (st->r.start_ns + atomic_load_explicit(&wall_offset_ns,
                                                                 memory_order_relaxed)) / 1000;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
    return st;
}

/* The client's address, formatted once per connection (socket context). */
struct conn_info {
    char client[INET6_ADDRSTRLEN];
};

static const char *client_addr(struct req_state *st)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_info *c = ci ? ci->socket_context : NULL;
    return c ? c->client : "-";
}

static void format_client(struct MHD_Connection *conn, struct conn_info *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    strcpy(c->client, "-");
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->client,
                      sizeof c->client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->client,
                      sizeof c->client);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    struct server *s = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return MHD_NO;
    struct strata_request *r = &st->r;
    if (!st->started) {
        st->started = 1;
        if (st->fd >= 0 && st->fd < s->n_conns)   /* headers are in: off the deadline */
            atomic_store_explicit(&s->conns[st->fd].since, 0, memory_order_relaxed);
        r->method = method;
        r->version = version;
        if (header_size(conn, r->uri) > (size_t)s->cfg->max_header_size)
            return answer_now(st, 431, "431 Request Header Fields Too Large\n");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->cfg->max_body_size)
            st->too_large = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->too_large || st->body_len + n > (size_t)s->cfg->max_body_size) {
            st->too_large = 1;
            return MHD_YES;
        }
        if (st->body_len + n + 1 > st->body_cap) {
            size_t cap = st->body_cap ? st->body_cap : 4096;
            while (cap < st->body_len + n + 1)
                cap *= 2;
            char *nb = realloc(st->body, cap);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            st->body_cap = cap;
        }
        memcpy(st->body + st->body_len, upload, n);
        st->body_len += n;
        st->body[st->body_len] = '\0';
        return MHD_YES;
    }
    if (st->done)
        return queue(st);
    if (st->too_large)
        return answer_now(st, 413, "413 Payload Too Large\n");
    r->path = path_clean(&r->arena, r->uri ? r->uri : url);
    if (!r->path)
        return answer_now(st, 400, "400 Bad Request\n");
    const char *q = r->uri ? strchr(r->uri, '?') : NULL;
    r->query = q ? q + 1 : NULL;
    r->client = client_addr(st);
    r->source = &mhd_source;
    r->src = st;
    r->body_in = st->body;
    r->body_in_len = st->body_len;

    scoreboard_begin(r);
    int rc = pipeline_run(r, s->rt);
    if (rc != STRATA_YIELD) {
        scoreboard_end(r->status);
        return queue(st);
    }
    /* A stage may block: continue on the pool. */
    scoreboard_handoff();
    request_reset_response(r);
    st->yielded = 1;
    MHD_suspend_connection(conn);
    if (pool_push(s->pool, st) != 0) {
        request_respond(r, 503, "text/plain; charset=utf-8", "503 Service Unavailable\n", 24);
        request_add_header(r, "Retry-After", "1");
        scoreboard_end(503);
        log_msg(STRATA_LOG_WARN, "pool queue full (%d waiting): answered 503 to %s %s",
                s->cfg->queue, r->method, r->path);
        st->done = 1;
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *s = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    if (st->started)
        pipeline_complete(&st->r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (st->fd >= 0 && st->fd < s->n_conns)   /* now waiting for the next request */
        atomic_store_explicit(&s->conns[st->fd].since, now_ns(), memory_order_relaxed);
    request_fini(&st->r);
    free(st->body);
    state_put(st);
    atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    struct server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_info *c = malloc(sizeof *c);
        if (c)
            format_client(conn, c);
        *socket_ctx = c;
    } else {
        free(*socket_ctx);
        *socket_ctx = NULL;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    if (fd < 0 || fd >= s->n_conns)
        return;
    struct conn_slot *c = &s->conns[fd];
    int seen = atomic_load_explicit(&s->max_fd, memory_order_relaxed);
    while (fd > seen && !atomic_compare_exchange_weak(&s->max_fd, &seen, fd))
        ;
    pthread_mutex_lock(&c->mu);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        c->open = 1;
        atomic_store(&c->since, now_ns());
        scoreboard_connections(1);
    } else {
        c->open = 0;
        atomic_store(&c->since, 0);
        scoreboard_connections(-1);
    }
    pthread_mutex_unlock(&c->mu);
}

void server_sweep(struct server *s)
{
    wall_offset_update();
    if (!s || s->header_deadline_ns <= 0)
        return;
    int64_t now = now_ns();
    int top = atomic_load_explicit(&s->max_fd, memory_order_relaxed);
    for (int fd = 0; fd <= top && fd < s->n_conns; fd++) {
        struct conn_slot *c = &s->conns[fd];
        int64_t since = atomic_load_explicit(&c->since, memory_order_relaxed);
        if (!since || now - since < s->header_deadline_ns)
            continue;
        pthread_mutex_lock(&c->mu);
        since = atomic_load(&c->since);
        if (c->open && since && now - since >= s->header_deadline_ns) {
            shutdown(fd, SHUT_RDWR);      /* MHD sees the end and closes it */
            atomic_store(&c->since, 0);
        }
        pthread_mutex_unlock(&c->mu);
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_msg(STRATA_LOG_DEBUG, "libmicrohttpd: %s", msg);
}

static char *read_file(const char *path, char *err, size_t errlen, const char *key,
                       const char *file)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    if (f) {
        buf = malloc(1 << 20);
        len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
    }
    if (!buf || !len) {
        snprintf(err, errlen, "%s: [server:main] %s: cannot read '%s': %s", file, key, path,
                 f ? "empty file" : strerror(errno));
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

struct server *server_start(struct runtime *rt, int listen_fd, char *err, size_t errlen)
{
    const struct server_cfg *cfg = &rt->cfg.server;
    struct server *s = calloc(1, sizeof *s);
    s->rt = rt;
    s->cfg = cfg;
    struct rlimit rl;
    s->n_conns = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    s->conns = calloc((size_t)s->n_conns, sizeof *s->conns);
    for (int i = 0; i < s->n_conns; i++)
        pthread_mutex_init(&s->conns[i].mu, NULL);
    s->header_deadline_ns = (int64_t)(cfg->connection_timeout * 1e9);
    wall_offset_update();
    pipeline_clock_init();
    pipeline_set_cpu_timing(cfg->stage_cpu_time);
    s->pool = pool_start(cfg->threads, cfg->queue, run_on_pool);
    if (!s->pool) {
        snprintf(err, errlen, "cannot start %d pool threads", cfg->threads);
        free(s->conns);
        free(s);
        return NULL;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned io = cfg->io_threads > 0 ? (unsigned)cfg->io_threads : (unsigned)(cores > 0 ? cores : 1);
    /* Room for the headers and MHD's buffers; the handler checks
     * max_header_size, MHD answers 431 beyond the pool. Kept tight: MHD
     * clears the pool for every request (bench: memset 3.7% of cycles at
     * 8 KiB, 9.1% at 32 KiB, 19.6% at 48 KiB). */
    size_t mem = (size_t)cfg->max_header_size + 4096;
    char *cert = NULL, *key = NULL;
    if (*cfg->tls_cert || *cfg->tls_key) {
        cert = read_file(cfg->tls_cert, err, errlen, "tls_cert", rt->cfg.path);
        key = cert ? read_file(cfg->tls_key, err, errlen, "tls_key", rt->cfg.path) : NULL;
        if (!key) {
            free(cert);
            pool_stop(s->pool);
            free(s->conns);
            free(s);
            return NULL;
        }
    }
    /* MHD complains about TLS options without TLS: pass them only with it. */
    struct MHD_OptionItem tls_opts[] = {
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    the_server = s;
    s->d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
            MHD_USE_TURBO | (cert ? MHD_USE_TLS : 0),
        0, NULL, NULL, on_request, s,
        MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, io > 1 ? io : 0u,   /* 1 would warn: no pool */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->connection_timeout + 0.999),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_END);
    free(cert);                    /* MHD keeps its own copy after start */
    free(key);
    if (!s->d) {
        snprintf(err, errlen, "libmicrohttpd failed to start on the listening socket%s",
                 *cfg->tls_cert ? " (check tls_cert and tls_key: a PEM certificate and its key)" : "");
        pool_stop(s->pool);
        free(s->conns);
        free(s);
        the_server = NULL;
        return NULL;
    }
    return s;
}

/* Has a client sent bytes not read yet (a request about to start)? Then
 * stopping now would close the connection under it. */
static int pending_input(struct server *s)
{
    int top = atomic_load(&s->max_fd);
    for (int fd = 0; fd <= top && fd < s->n_conns; fd++) {
        struct conn_slot *c = &s->conns[fd];
        int n = 0, waiting = 0;
        pthread_mutex_lock(&c->mu);
        if (c->open && ioctl(fd, FIONREAD, &n) == 0)
            waiting = n > 0;
        pthread_mutex_unlock(&c->mu);
        if (waiting)
            return 1;
    }
    return 0;
}

void server_stop(struct server *s, double grace)
{
    if (!s)
        return;
    MHD_quiesce_daemon(s->d);       /* the supervisor keeps the socket */
    atomic_store(&s->draining, 1);
    /* Linger a moment so keep-alive clients get one more answer, marked
     * Connection: close, instead of a connection closed under them. */
    int64_t start = now_ns(), until = start + (int64_t)(grace * 1e9);
    int64_t linger = start + (int64_t)(grace < 1 ? grace * 1e9 : 1e9);
    while ((atomic_load(&s->active) > 0 || now_ns() < linger || pending_input(s)) &&
           now_ns() < until) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->active) > 0)
        log_msg(STRATA_LOG_WARN, "graceful_timeout reached with %d requests in flight",
                atomic_load(&s->active));
    MHD_stop_daemon(s->d);
    pool_stop(s->pool);
    for (int i = 0; i < s->n_conns; i++)
        pthread_mutex_destroy(&s->conns[i].mu);
    free(s->conns);
    the_server = NULL;
    free(s);
}
