/* test_proxy.c — the proxy app against the SDK test kit and a tiny
 * upstream on 127.0.0.1 (a poll loop in a thread) that records what it
 * received and answers with canned bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;

/* ---- the fake upstream ---- */

#define MAXC 8

typedef struct upstream {
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    int accepts;
    int silent;                /* read requests, never answer            */
    char reply[16384];
    size_t reply_len;
    char last[16384];          /* the last complete request              */
    size_t last_len;
} upstream;

typedef struct conn {
    int fd;
    char buf[16384];
    size_t len;
} conn;

/* A whole request in c->buf? Returns its length or 0. */
static size_t complete(const conn *c)
{
    const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->buf) + 4, body = 0;
    const char *cl = memmem(c->buf, head, "Content-Length: ", 16);
    if (cl)
        body = (size_t)strtoul(cl + 16, NULL, 10);
    return c->len >= head + body ? head + body : 0;
}

static void *serve(void *p)
{
    upstream *u = p;
    conn cs[MAXC];
    int n = 0;
    while (1) {
        pthread_mutex_lock(&u->mu);
        int stop = u->stop;
        pthread_mutex_unlock(&u->mu);
        if (stop)
            break;
        struct pollfd pf[MAXC + 1];
        pf[0].fd = u->lfd;
        pf[0].events = POLLIN;
        for (int i = 0; i < n; i++)
            pf[i + 1].fd = cs[i].fd, pf[i + 1].events = POLLIN;
        if (poll(pf, (nfds_t)n + 1, 20) <= 0)
            continue;
        if ((pf[0].revents & POLLIN) && n < MAXC) {
            int fd = accept(u->lfd, NULL, NULL);
            if (fd >= 0) {
                cs[n].fd = fd;
                cs[n].len = 0;
                n++;
                pthread_mutex_lock(&u->mu);
                u->accepts++;
                pthread_mutex_unlock(&u->mu);
            }
        }
        for (int i = 0; i < n; i++) {
            if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(cs[i].fd, cs[i].buf + cs[i].len, sizeof cs[i].buf - cs[i].len);
            if (r <= 0) {
                close(cs[i].fd);
                cs[i] = cs[--n];
                i--;
                continue;
            }
            cs[i].len += (size_t)r;
            size_t whole = complete(&cs[i]);
            if (!whole)
                continue;
            pthread_mutex_lock(&u->mu);
            memcpy(u->last, cs[i].buf, whole);
            u->last[whole] = '\0';
            u->last_len = whole;
            if (!u->silent && write(cs[i].fd, u->reply, u->reply_len) < 0)
                perror("write");
            pthread_mutex_unlock(&u->mu);
            memmove(cs[i].buf, cs[i].buf + whole, cs[i].len - whole);
            cs[i].len -= whole;
        }
    }
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    return NULL;
}

static void reply(upstream *u, const char *text)
{
    pthread_mutex_lock(&u->mu);
    u->reply_len = strlen(text);
    memcpy(u->reply, text, u->reply_len);
    pthread_mutex_unlock(&u->mu);
}

static int setup(void **state)
{
    upstream *u = calloc(1, sizeof *u);
    pthread_mutex_init(&u->mu, NULL);
    u->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(u->lfd, (struct sockaddr *)&a, sizeof a) || listen(u->lfd, 16) ||
        getsockname(u->lfd, (struct sockaddr *)&a, &al))
        return -1;
    u->port = ntohs(a.sin_port);
    reply(u, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok");
    pthread_create(&u->th, NULL, serve, u);
    *state = u;
    return 0;
}

static int teardown(void **state)
{
    upstream *u = *state;
    pthread_mutex_lock(&u->mu);
    u->stop = 1;
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->th, NULL);
    close(u->lfd);
    pthread_mutex_destroy(&u->mu);
    free(u);
    return 0;
}

static const char *last_request(upstream *u)
{
    static char copy[16384];
    pthread_mutex_lock(&u->mu);
    memcpy(copy, u->last, u->last_len + 1);
    pthread_mutex_unlock(&u->mu);
    return copy;
}

static stt_instance *make(upstream *u, const char *path, const char *k1, const char *v1,
                          const char *k2, const char *v2)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", u->port, path);
    stt_instance *inst = stt_create(&strata_plugin, NULL, "upstream", url, k1, v1, k2, v2, NULL);
    assert_non_null(inst);
    return inst;
}

static int has_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    return strstr(text, want) != NULL;
}

static int has_name(const char *text, const char *name)
{
    char want[128];
    snprintf(want, sizeof want, "\r\n%s:", name);
    return strcasestr(text, want) != NULL;
}

struct count_ctx {
    const char *name;
    int n;
};

static int count_cb(void *p, const char *name, const char *value)
{
    struct count_ctx *c = p;
    c->n += strcasecmp(name, c->name) == 0;
    return 0;
}

static int count_headers(strata_request *req, const char *name)
{
    struct count_ctx c = {name, 0};
    stt_host()->resp_header_each(req, count_cb, &c);
    return c.n;
}

static void assert_body(strata_request *req, const char *want)
{
    size_t len = 0;
    const char *body = stt_body_out(req, &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(body, want, len);
}

/* ---- tests ---- */

static void proxy__get__path_query_and_headers_forwarded(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "/v1/", NULL, NULL, NULL, NULL);
    char loc[256], resp[1024];
    snprintf(loc, sizeof loc, "http://127.0.0.1:%d/v1/users/9", u->port);
    snprintf(resp, sizeof resp,
             "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 8\r\n"
             "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n"
             "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
             "Proxy-Authenticate: Basic\r\nLocation: %s\r\n\r\n{\"id\":9}",
             loc);
    reply(u, resp);

    strata_request *req = stt_request("GET", "/api/users/a%20b%3F?x=1&y=%2F");
    stt_mount(req, "/api");
    stt_client(req, "192.0.2.7");
    stt_header(req, "Host", "front.test");
    stt_header(req, "Connection", "keep-alive, X-Hop");
    stt_header(req, "X-Hop", "1");
    stt_header(req, "Keep-Alive", "timeout=5");
    stt_header(req, "TE", "trailers");
    stt_header(req, "Upgrade", "websocket");
    stt_header(req, "Proxy-Authorization", "Basic eDp5");
    stt_header(req, "X-Forwarded-For", "10.0.0.1");
    stt_header(req, "X-Custom", "kept");
    stt_header(req, "Accept", "application/json");
    stt_header(req, "X-Empty", "");
    assert_int_equal(stt_run(inst, req), STRATA_OK);

    const char *got = last_request(u);
    assert_non_null(strstr(got, "GET /v1/users/a%20b%3F?x=1&y=%2F HTTP/1.1\r\n"));
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d", u->port);
    assert_true(has_line(got, host));
    assert_true(has_line(got, "X-Custom: kept"));
    assert_true(has_line(got, "Accept: application/json"));
    assert_true(has_line(got, "X-Empty:"));
    assert_true(has_line(got, "X-Forwarded-For: 10.0.0.1, 192.0.2.7"));
    assert_true(has_line(got, "X-Forwarded-Proto: http"));
    assert_true(has_line(got, "X-Forwarded-Host: front.test"));
    assert_true(has_line(got, "X-Forwarded-Prefix: /api"));
    const char *dropped[] = {"Connection", "X-Hop", "Keep-Alive", "TE", "Upgrade",
                             "Proxy-Authorization", "Expect", "Content-Type"};
    for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
        if (has_name(got, dropped[i]))
            fail_msg("'%s' was forwarded:\n%s", dropped[i], got);

    assert_int_equal(stt_status(req), 201);
    assert_string_equal(stt_header_out(req, "Content-Type"), "application/json");
    assert_string_equal(stt_header_out(req, "Location"), "/api/users/9");
    assert_int_equal(count_headers(req, "Set-Cookie"), 2);
    const char *gone[] = {"Connection", "X-Secret", "Keep-Alive", "Date", "Proxy-Authenticate",
                          "Content-Length"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        if (stt_header_out(req, gone[i]))
            fail_msg("'%s' was passed back", gone[i]);
    assert_body(req, "{\"id\":9}");
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__post_body__forwarded_with_length(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    strata_request *req = stt_request("POST", "/form");
    stt_header(req, "Content-Type", "application/x-www-form-urlencoded");
    stt_header(req, "Content-Length", "11");
    stt_header(req, "Expect", "100-continue");
    stt_body(req, "a=1&b=hello", 11);
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    const char *got = last_request(u);
    assert_non_null(strstr(got, "POST /form HTTP/1.1\r\n"));
    assert_true(has_line(got, "Content-Length: 11"));
    assert_true(has_line(got, "Content-Type: application/x-www-form-urlencoded"));
    assert_false(has_name(got, "Expect"));
    assert_false(has_name(got, "X-Forwarded-Prefix"));
    assert_non_null(strstr(got, "\r\n\r\na=1&b=hello"));
    assert_int_equal(stt_status(req), 200);
    assert_body(req, "ok");
    stt_free(req);

    req = stt_request("DELETE", "/item/3");   /* no body: none sent */
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    got = last_request(u);
    assert_non_null(strstr(got, "DELETE /item/3 HTTP/1.1\r\n"));
    assert_false(has_name(got, "Content-Length"));
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__head__answer_without_body(void **state)
{
    upstream *u = *state;
    reply(u, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n");
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    strata_request *req = stt_request("HEAD", "/big.html");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_non_null(strstr(last_request(u), "HEAD /big.html HTTP/1.1\r\n"));
    assert_int_equal(stt_status(req), 200);
    assert_string_equal(stt_header_out(req, "Content-Type"), "text/html");
    assert_string_equal(stt_header_out(req, "Content-Length"), "1000");
    assert_true(stt_host()->resp_length(req) <= 0);
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__strip_prefix_false__whole_path_sent(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "/base", "strip_prefix", "false", "preserve_host", "true");
    strata_request *req = stt_request("GET", "/api/x");
    stt_mount(req, "/api");
    stt_header(req, "Host", "front.test:8080");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    const char *got = last_request(u);
    assert_non_null(strstr(got, "GET /base/api/x HTTP/1.1\r\n"));
    assert_true(has_line(got, "Host: front.test:8080"));
    assert_false(has_name(got, "X-Forwarded-Prefix"));
    stt_free(req);

    req = stt_request("GET", "/api");   /* the mount itself */
    stt_mount(req, "/api");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_non_null(strstr(last_request(u), "GET /base/api HTTP/1.1\r\n"));
    stt_free(req);
    stt_destroy(inst);

    inst = make(u, "/v1", NULL, NULL, NULL, NULL);
    req = stt_request("GET", "/api");
    stt_mount(req, "/api");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_non_null(strstr(last_request(u), "GET /v1 HTTP/1.1\r\n"));
    stt_free(req);
    req = stt_request("GET", "/api/?q");
    stt_mount(req, "/api");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_non_null(strstr(last_request(u), "GET /v1/?q HTTP/1.1\r\n"));
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__two_requests__one_connection(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        strata_request *req = stt_request("GET", "/again");
        assert_int_equal(stt_run(inst, req), STRATA_OK);
        assert_int_equal(stt_status(req), 200);
        stt_free(req);
    }
    pthread_mutex_lock(&u->mu);
    int accepts = u->accepts;
    pthread_mutex_unlock(&u->mu);
    assert_int_equal(accepts, 1);
    stt_destroy(inst);
}

static void proxy__upstream_error_status__passed_through(void **state)
{
    upstream *u = *state;
    reply(u, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\nbusy");
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    strata_request *req = stt_request("GET", "/");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 503);
    assert_string_equal(stt_header_out(req, "Retry-After"), "5");
    assert_body(req, "busy");
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__chunked_response__decoded(void **state)
{
    upstream *u = *state;
    reply(u, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    strata_request *req = stt_request("GET", "/");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 200);
    assert_null(stt_header_out(req, "Transfer-Encoding"));
    assert_null(stt_header_out(req, "Trailer"));
    assert_body(req, "hello world");
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__upstream_down__502(void **state)
{
    /* a port that was just free: nothing listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    stt_instance *inst = stt_create(&strata_plugin, NULL, "upstream", url, NULL);
    assert_non_null(inst);
    stt_log_clear();
    strata_request *req = stt_request("GET", "/x");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 502);
    assert_body(req, "502 Bad Gateway\n");
    assert_non_null(strstr(stt_log_text(), "[app:proxy] GET /x: upstream http://127.0.0.1:"));
    stt_free(req);
    stt_destroy(inst);
}

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void proxy__upstream_silent__504_in_time(void **state)
{
    upstream *u = *state;
    pthread_mutex_lock(&u->mu);
    u->silent = 1;
    pthread_mutex_unlock(&u->mu);
    stt_instance *inst = make(u, "", "upstream_timeout", "0.3", NULL, NULL);
    strata_request *req = stt_request("GET", "/slow");
    int64_t t0 = ms_now();
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    int64_t took = ms_now() - t0;
    assert_int_equal(stt_status(req), 504);
    assert_body(req, "504 Gateway Timeout\n");
    assert_true(took >= 250 && took < 3000);
    stt_free(req);
    stt_destroy(inst);
}

static void proxy__response_too_large__502(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "", "max_response_size", "1K", NULL, NULL);
    char big[4096];
    /* announced length above the cap */
    reply(u, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    strata_request *req = stt_request("GET", "/big");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 502);
    stt_free(req);
    /* chunked, no length: caught while reading */
    char chunk[1100];
    memset(chunk, 'x', sizeof chunk - 1);
    chunk[sizeof chunk - 1] = '\0';
    snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
             strlen(chunk), chunk);
    reply(u, big);
    req = stt_request("GET", "/big");
    assert_int_equal(stt_run(inst, req), STRATA_OK);
    assert_int_equal(stt_status(req), 502);
    assert_non_null(strstr(stt_log_text(), "larger than max_response_size"));
    stt_free(req);
    stt_destroy(inst);
}

/* Several threads through one instance: each thread's own CURL handle and
 * connection, nothing shared (run under TSan by make test). */
typedef struct par_ctx {
    stt_instance *inst;
    int ok;
} par_ctx;

static void *par_worker(void *p)
{
    par_ctx *c = p;
    for (int i = 0; i < 25; i++) {
        strata_request *req = stt_request("GET", "/par");
        size_t len = 0;
        const char *body = NULL;
        if (stt_run(c->inst, req) == STRATA_OK && stt_status(req) == 200)
            body = stt_body_out(req, &len);
        c->ok += body && len == 2 && memcmp(body, "ok", 2) == 0;
        stt_free(req);
    }
    return NULL;
}

static void proxy__parallel_threads__own_handles_and_connections(void **state)
{
    upstream *u = *state;
    stt_instance *inst = make(u, "", NULL, NULL, NULL, NULL);
    enum { NT = 4 };
    pthread_t th[NT];
    par_ctx ctx[NT];
    for (int i = 0; i < NT; i++) {
        ctx[i] = (par_ctx){inst, 0};
        pthread_create(&th[i], NULL, par_worker, &ctx[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ctx[i].ok, 25);
    }
    pthread_mutex_lock(&u->mu);
    int accepts = u->accepts;
    pthread_mutex_unlock(&u->mu);
    assert_true(accepts >= 1 && accepts <= NT);   /* one kept-alive connection per thread */
    stt_destroy(inst);
}

static void proxy__bad_upstream__config_error(void **state)
{
    assert_null(stt_create(&strata_plugin, NULL, NULL));
    assert_non_null(strstr(stt_last_error(), "[app:proxy] upstream: required option missing"));
    const char *bad[] = {"ftp://x", "http://", "http://h:99999", "http://h:80?x", "127.0.0.1:80",
                         "http://user@h", "http://h x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (stt_create(&strata_plugin, NULL, "upstream", bad[i], NULL))
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(stt_last_error(), "[app:proxy] upstream:"));
    }
    assert_null(stt_create(&strata_plugin, NULL, "upstream", "http://h", "upstream_timeout", "0",
                           NULL));
    assert_non_null(strstr(stt_last_error(), "upstream_timeout"));
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(proxy__get__path_query_and_headers_forwarded),
        T(proxy__post_body__forwarded_with_length),
        T(proxy__head__answer_without_body),
        T(proxy__strip_prefix_false__whole_path_sent),
        T(proxy__two_requests__one_connection),
        T(proxy__upstream_error_status__passed_through),
        T(proxy__chunked_response__decoded),
        T(proxy__upstream_down__502),
        T(proxy__upstream_silent__504_in_time),
        T(proxy__response_too_large__502),
        T(proxy__parallel_threads__own_handles_and_connections),
        T(proxy__bad_upstream__config_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
