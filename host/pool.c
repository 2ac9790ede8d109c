/* pool.c — N threads around one ring buffer guarded by a mutex and a
 * condition variable. The lock is only taken by requests that need the
 * pool; the inline fast path never touches it. */
#include "pool.h"
#include "pipeline.h"
#include "scoreboard.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t idle_cv;        /* pool_start waits for every thread */
    void **ring;
    int cap, head, count;
    int idle;                      /* threads waiting for work */
    int limit;                     /* `queue`: requests that may wait */
    int stopping;
    int n_threads;
    int want;                      /* threads asked for (read by them) */
    pthread_t *threads;
    void (*run)(void *);
};

/* Requests no idle thread is about to take (call with the lock held). */
static int waiting(const struct pool *p)
{
    return p->count > p->idle ? p->count - p->idle : 0;
}

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    /* The worker's crash handler runs on an alternate stack, so a plugin
     * that overflows its stack is still reported with its stage. */
    stack_t ss = {.ss_sp = malloc(64 * 1024), .ss_size = 64 * 1024};
    if (ss.ss_sp)
        sigaltstack(&ss, NULL);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (++p->idle == p->want)
            pthread_cond_signal(&p->idle_cv);
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        p->idle--;
        if (p->count == 0 && p->stopping) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        void *item = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        scoreboard_queue(waiting(p));
        pthread_mutex_unlock(&p->mu);
        p->run(item);
    }
    pipeline_thread_exit();
    if (ss.ss_sp) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        free(ss.ss_sp);
    }
    return NULL;
}

struct pool *pool_start(int threads, int queue_limit, void (*run)(void *))
{
    struct pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    /* The ring holds the waiting requests plus one per idle thread. */
    p->limit = queue_limit > 0 ? queue_limit : 0;
    p->cap = p->limit + threads + 1;
    p->ring = calloc((size_t)p->cap, sizeof *p->ring);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    p->run = run;
    p->want = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    if (!p->ring || !p->threads)
        goto fail;
    for (int i = 0; i < threads; i++) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 512 * 1024);
        int rc = pthread_create(&p->threads[i], &a, pool_main, p);
        pthread_attr_destroy(&a);
        if (rc)
            break;
        p->n_threads++;
    }
    if (p->n_threads == threads) {
        /* Ready means every thread waits for work: with queue = 0 a push
         * is accepted only by an idle thread. */
        pthread_mutex_lock(&p->mu);
        while (p->idle < p->n_threads)
            pthread_cond_wait(&p->idle_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return p;
    }
fail:
    pool_stop(p);
    return NULL;
}

int pool_push(struct pool *p, void *item)
{
    pthread_mutex_lock(&p->mu);
    /* Full when every idle thread has a request already and `queue` more wait. */
    if (p->count >= p->idle + p->limit || p->count >= p->cap || p->stopping) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->ring[(p->head + p->count) % p->cap] = item;
    p->count++;
    scoreboard_queue(waiting(p));
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int pool_depth(struct pool *p)
{
    pthread_mutex_lock(&p->mu);
    int n = waiting(p);
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pool_stop(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->idle_cv);
    free(p->ring);
    free(p->threads);
    free(p);
}
