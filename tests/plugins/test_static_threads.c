/* test_static_threads.c — the static plugin's cache under concurrency,
 * for TSan: a cached body is built on one thread and released on another
 * (as the host releases set_body_ref bodies after sending), while its
 * entry is being dropped and rebuilt because a writer keeps replacing the
 * file. Four serving threads (each its own instance, as each host thread
 * has its own cache slot) hand every response to one sender thread that
 * checks the bytes and frees it. TSan must stay quiet, ASan must see no
 * use after free, and every body must be one whole version of the file.
 *
 * Its own binary (the Makefile's test_NAME_threads rule compiles the
 * plugin in), run under TSan from tests/tsan.list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strata-test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern const struct strata_plugin strata_plugin;
extern int64_t st_cache_check_ns, st_cache_racy_ns;

#define SERVERS 4
#define REQUESTS 1500
#define QCAP 64

static char top[64], www[96];

/* ---- a bounded queue: servers -> sender ---- */
static strata_request *q[QCAP];
static size_t qhead, qtail;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qnonempty = PTHREAD_COND_INITIALIZER, qnonfull = PTHREAD_COND_INITIALIZER;
static int servers_left;
static atomic_int writer_stop;
static atomic_int bad_bodies, bad_status, sent;
static int from_memory, changes_seen;   /* the sender's alone */
static char last_seen[10];

static void push(strata_request *r)
{
    pthread_mutex_lock(&qlock);
    while (qtail - qhead == QCAP)
        pthread_cond_wait(&qnonfull, &qlock);
    q[qtail++ % QCAP] = r;
    pthread_cond_signal(&qnonempty);
    pthread_mutex_unlock(&qlock);
}

static strata_request *pop(void)
{
    pthread_mutex_lock(&qlock);
    while (qtail == qhead && servers_left > 0)
        pthread_cond_wait(&qnonempty, &qlock);
    strata_request *r = qtail == qhead ? NULL : q[qhead++ % QCAP];
    pthread_cond_signal(&qnonfull);
    pthread_mutex_unlock(&qlock);
    return r;
}

static void write_file(const char *name, const char *data)
{
    char tmp[160], dst[160];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", www, name);
    snprintf(dst, sizeof dst, "%s/%s", www, name);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
    assert_int_equal(rename(tmp, dst), 0);   /* whole versions only */
}

/* Versions are "vNNNNNNN\n" repeated: any mix of two would show. */
static int whole_version(const char *b, size_t len)
{
    if (len != 9 * 100)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (b[i] != b[i % 9])
            return 0;
    return b[0] == 'v' && b[8] == '\n';
}

static void version_text(char *out, int v)
{
    char one[16];
    snprintf(one, sizeof one, "v%07d\n", v % 10000000);
    out[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(out, one);
}

static void *writer(void *arg)
{
    (void)arg;
    char text[1000];
    for (int v = 1; !atomic_load(&writer_stop); v++) {
        version_text(text, v);
        write_file("hot.txt", text);
        usleep(200);
    }
    return NULL;
}

static void *server(void *arg)
{
    stt_instance *inst = arg;
    for (int n = 0; n < REQUESTS; n++) {
        strata_request *r = stt_request(n % 5 ? "GET" : "HEAD", n % 3 ? "/hot.txt" : "/cold.css");
        if (n % 7 == 0 && n % 3)
            stt_header(r, "Range", "bytes=9-17");
        if (stt_run(inst, r) != STRATA_OK)
            atomic_fetch_add(&bad_status, 1);
        push(r);
    }
    pthread_mutex_lock(&qlock);
    servers_left--;
    pthread_cond_broadcast(&qnonempty);
    pthread_mutex_unlock(&qlock);
    return NULL;
}

static void *sender(void *arg)
{
    (void)arg;
    for (strata_request *r; (r = pop());) {
        int st = stt_status(r);
        size_t len = 0;
        const char *b = stt_body_out(r, &len);
        const char *uri = stt_host()->uri(r);
        if (st != 200 && st != 206)
            atomic_fetch_add(&bad_status, 1);
        else if (strcmp(uri, "/hot.txt") == 0 && st == 200 && !whole_version(b, len))
            atomic_fetch_add(&bad_bodies, 1);
        else if (st == 206 && (len != 9 || b[0] != 'v'))
            atomic_fetch_add(&bad_bodies, 1);
        if (strcmp(uri, "/hot.txt") == 0 && st == 200 && len >= 9) {
            from_memory += !stt_body_is_fd(r);
            changes_seen += memcmp(last_seen, b, 9) != 0;
            memcpy(last_seen, b, 9);
        }
        atomic_fetch_add(&sent, 1);
        stt_free(r);   /* releases the cached bytes, on this thread */
    }
    return NULL;
}

static void static_threads__cached_bodies__released_across_threads(void **state)
{
    (void)state;
    strcpy(top, "/tmp/strata-static-threads-XXXXXX");
    assert_non_null(mkdtemp(top));
    snprintf(www, sizeof www, "%s/www", top);
    assert_int_equal(mkdir(www, 0755), 0);
    char text[1000];
    version_text(text, 0);
    write_file("hot.txt", text);
    write_file("cold.css", "body{}\n");
    st_cache_racy_ns = 0;       /* cache at once ...                    */
    st_cache_check_ns = 100000; /* ... and re-check every 0.1 ms        */

    stt_instance *inst[SERVERS];
    for (int i = 0; i < SERVERS; i++) {
        inst[i] = stt_create(&strata_plugin, top, "root", www, NULL);
        assert_non_null(inst[i]);
    }
    servers_left = SERVERS;
    pthread_t w, snd, srv[SERVERS];
    pthread_create(&w, NULL, writer, NULL);
    pthread_create(&snd, NULL, sender, NULL);
    for (int i = 0; i < SERVERS; i++)
        pthread_create(&srv[i], NULL, server, inst[i]);
    for (int i = 0; i < SERVERS; i++)
        pthread_join(srv[i], NULL);
    pthread_join(snd, NULL);
    atomic_store(&writer_stop, 1);
    pthread_join(w, NULL);
    assert_int_equal(atomic_load(&sent), SERVERS * REQUESTS);
    assert_int_equal(atomic_load(&bad_status), 0);
    assert_int_equal(atomic_load(&bad_bodies), 0);
    /* the cache served, and its entries were dropped and rebuilt meanwhile */
    assert_true(from_memory > 0);
    assert_true(changes_seen > 1);
    printf("hot.txt: %d bodies from memory, %d changes of version seen\n", from_memory,
           changes_seen);
    /* every thread's cache works: a cold file comes from memory */
    for (int i = 0; i < SERVERS; i++) {
        stt_instance *si = inst[i];
        strata_request *r = stt_request("GET", "/cold.css");
        stt_run(si, r);
        assert_false(stt_body_is_fd(r));
        stt_free(r);
        stt_destroy(si);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(static_threads__cached_bodies__released_across_threads),
    };
    return cmocka_run_group_tests_name("static_threads", tests, NULL, NULL);
}
