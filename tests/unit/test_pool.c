/* test_pool.c — the host's thread pool: every item runs exactly once, a
 * full queue refuses at once (the server turns that -1 into a 503), stop
 * drains what is queued. Built and run under ThreadSanitizer too by
 * `make test` (build/tsan/tests/test_pool), so the pool's locking is
 * checked, not only its counts. Items that must stay busy wait on a gate
 * the test opens; every wait is bounded so a bug fails instead of hanging. */
#include "unit.h"
#include "../../host/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct item {
    int id;
    atomic_int runs;
};

/* Shared by the running items and the test: how many started, the gate. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, running, max_running, open;
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static atomic_int total_runs;

static int reset(void **state)
{
    pthread_mutex_lock(&g.mu);
    g.started = g.running = g.max_running = 0;
    g.open = 0;
    pthread_mutex_unlock(&g.mu);
    atomic_store(&total_runs, 0);
    return 0;
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void run_free(void *arg)
{
    struct item *it = arg;
    atomic_fetch_add(&it->runs, 1);
    atomic_fetch_add(&total_runs, 1);
}

/* Holds its pool thread until the gate opens (or 10 s pass). */
static void run_gated(void *arg)
{
    struct item *it = arg;
    struct timespec ts;
    deadline_in(&ts, 10000);
    pthread_mutex_lock(&g.mu);
    g.started++;
    g.running++;
    if (g.running > g.max_running)
        g.max_running = g.running;
    pthread_cond_broadcast(&g.cv);
    while (!g.open)
        if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) == ETIMEDOUT)
            break;
    g.running--;
    pthread_mutex_unlock(&g.mu);
    atomic_fetch_add(&it->runs, 1);
    atomic_fetch_add(&total_runs, 1);
}

/* Wait until `n` gated items have started; returns how many did. */
static int wait_started(int n)
{
    struct timespec ts;
    deadline_in(&ts, 5000);
    pthread_mutex_lock(&g.mu);
    while (g.started < n)
        if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) == ETIMEDOUT)
            break;
    int got = g.started;
    pthread_mutex_unlock(&g.mu);
    return got;
}

static void open_gate(void)
{
    pthread_mutex_lock(&g.mu);
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

/* ---- tests ---- */

static void pool__every_item__runs_exactly_once(void **state)
{
    enum { N = 5000 };
    struct item *items = calloc(N, sizeof *items);
    assert_non_null(items);
    struct pool *p = pool_start(4, 64, run_free);
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        items[i].id = i;
        /* the queue is small on purpose: a full one refuses, so retry */
        int tries = 0;
        while (pool_push(p, &items[i]) != 0) {
            assert_true(++tries < 100000);
            usleep(50);
        }
    }
    pool_stop(p);
    for (int i = 0; i < N; i++)
        if (atomic_load(&items[i].runs) != 1)
            fail_msg("item %d ran %d times", i, atomic_load(&items[i].runs));
    assert_int_equal(atomic_load(&total_runs), N);
    free(items);
}

struct producer {
    struct pool *p;
    struct item *items;
    int n, refused;
};

/* Pushes its items, retrying while the queue is full (as no server does:
 * here every item must get in). */
static void *produce(void *arg)
{
    struct producer *pr = arg;
    for (int i = 0; i < pr->n; i++)
        while (pool_push(pr->p, &pr->items[i]) != 0) {
            pr->refused++;
            usleep(20);
        }
    return NULL;
}

static void pool__many_producers__each_item_once(void **state)
{
    enum { PRODUCERS = 4, EACH = 2000 };
    static struct item items[PRODUCERS * EACH];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(3, 16, run_free);
    assert_non_null(p);
    struct producer prods[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        prods[k] = (struct producer){p, items + k * EACH, EACH, 0};
        assert_int_equal(pthread_create(&th[k], NULL, produce, &prods[k]), 0);
    }
    /* meanwhile the status page's view: the depth, read while pushes and pops race */
    int max_depth = 0;
    while (atomic_load(&total_runs) < PRODUCERS * EACH / 2) {
        int d = pool_depth(p);
        assert_true(d >= 0 && d <= 16);
        if (d > max_depth)
            max_depth = d;
        usleep(10);
    }
    for (int k = 0; k < PRODUCERS; k++)
        assert_int_equal(pthread_join(th[k], NULL), 0);
    pool_stop(p);
    for (int i = 0; i < PRODUCERS * EACH; i++)
        if (atomic_load(&items[i].runs) != 1)
            fail_msg("item %d ran %d times", i, atomic_load(&items[i].runs));
    assert_int_equal(atomic_load(&total_runs), PRODUCERS * EACH);
}

static void pool__queue_full__push_returns_minus_1(void **state)
{
    struct item items[6];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(2, 3, run_gated);
    assert_non_null(p);
    /* two items hold both threads ... */
    assert_int_equal(pool_push(p, &items[0]), 0);
    assert_int_equal(pool_push(p, &items[1]), 0);
    assert_int_equal(wait_started(2), 2);
    assert_int_equal(pool_depth(p), 0);
    /* ... three wait in the queue ... */
    for (int i = 2; i < 5; i++)
        assert_int_equal(pool_push(p, &items[i]), 0);
    assert_int_equal(pool_depth(p), 3);
    /* ... and the next is refused at once: the caller answers 503 */
    assert_int_equal(pool_push(p, &items[5]), -1);
    assert_int_equal(pool_depth(p), 3);
    open_gate();
    pool_stop(p);
    for (int i = 0; i < 5; i++)
        assert_int_equal(atomic_load(&items[i].runs), 1);
    assert_int_equal(atomic_load(&items[5].runs), 0);
    assert_int_equal(atomic_load(&total_runs), 5);
}

static void pool__queue_frees_up__push_accepted_again(void **state)
{
    struct item items[4];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(1, 1, run_gated);
    assert_non_null(p);
    assert_int_equal(pool_push(p, &items[0]), 0);
    assert_int_equal(wait_started(1), 1);
    assert_int_equal(pool_push(p, &items[1]), 0);
    assert_int_equal(pool_push(p, &items[2]), -1);
    open_gate();
    /* once the queue drains, room again (bounded wait) */
    int ok = -1;
    for (int i = 0; i < 5000 && ok != 0; i++) {
        ok = pool_push(p, &items[3]);
        if (ok != 0)
            usleep(1000);
    }
    assert_int_equal(ok, 0);
    pool_stop(p);
    assert_int_equal(atomic_load(&items[3].runs), 1);
    assert_int_equal(atomic_load(&items[2].runs), 0);
}

static void pool__queue_zero__no_request_waits(void **state)
{
    struct item items[2];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(1, 0, run_gated);
    assert_non_null(p);
    assert_int_equal(pool_push(p, &items[0]), 0);
    assert_int_equal(wait_started(1), 1);
    int rc = pool_push(p, &items[1]);
    open_gate();
    pool_stop(p);
    /* `queue = 0` (SPEC: requests waiting for a thread before 503): none may wait */
    EXPECT_MSG(rc == -1, "pool.c makes queue = 0 a queue of 1 (push returned %d)", rc);
}

struct stopper {
    struct pool *p;
    atomic_int done;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    pool_stop(s->p);
    atomic_store(&s->done, 1);
    return NULL;
}

static void pool__stop__drains_queued_items_then_refuses(void **state)
{
    enum { QUEUED = 10, EXTRA = 200 };
    static struct item items[1 + QUEUED + EXTRA];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(1, 1024, run_gated);
    assert_non_null(p);
    assert_int_equal(pool_push(p, &items[0]), 0);
    assert_int_equal(wait_started(1), 1);
    for (int i = 1; i <= QUEUED; i++)
        assert_int_equal(pool_push(p, &items[i]), 0);
    struct stopper s = {p, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_thread, &s), 0);
    /* while stop waits for the busy thread, new work is refused (p is still
     * alive: stop cannot free it before the gate opens) */
    int accepted = 0, refused = 0;
    for (int k = 0; k < EXTRA && !refused; k++) {
        if (pool_push(p, &items[1 + QUEUED + k]) == 0) {
            accepted++;
            usleep(1000);
        } else {
            refused = 1;
        }
    }
    assert_true(refused);
    assert_int_equal(atomic_load(&s.done), 0);    /* still draining */
    open_gate();
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&s.done), 1);
    for (int i = 0; i <= QUEUED + accepted; i++)
        if (atomic_load(&items[i].runs) != 1)
            fail_msg("item %d ran %d times", i, atomic_load(&items[i].runs));
    assert_int_equal(atomic_load(&total_runs), 1 + QUEUED + accepted);
}

static void pool__threads__run_items_in_parallel(void **state)
{
    struct item items[4];
    memset(items, 0, sizeof items);
    struct pool *p = pool_start(4, 8, run_gated);
    assert_non_null(p);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pool_push(p, &items[i]), 0);
    /* all four are inside run at once: four threads, not one */
    assert_int_equal(wait_started(4), 4);
    pthread_mutex_lock(&g.mu);
    int max = g.max_running;
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(max, 4);
    open_gate();
    pool_stop(p);
    assert_int_equal(atomic_load(&total_runs), 4);
}

static void pool__stop_idle_pool__returns(void **state)
{
    struct pool *p = pool_start(8, 4, run_free);
    assert_non_null(p);
    assert_int_equal(pool_depth(p), 0);
    pool_stop(p);
    pool_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup(name, reset)
        T(pool__every_item__runs_exactly_once),
        T(pool__many_producers__each_item_once),
        T(pool__queue_full__push_returns_minus_1),
        T(pool__queue_frees_up__push_accepted_again),
        T(pool__queue_zero__no_request_waits),
        T(pool__stop__drains_queued_items_then_refuses),
        T(pool__threads__run_items_in_parallel),
        T(pool__stop_idle_pool__returns),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
