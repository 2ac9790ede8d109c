/* pool.h — the host's worker threads: a bounded queue of requests that
 * may block, so a slow stage holds one pool thread and never an I/O loop. */
#ifndef STRATA_POOL_H
#define STRATA_POOL_H
struct pool;
struct pool *pool_start(int threads, int queue_limit, void (*run)(void *item));
/* 0 when queued; -1 when the queue is full (the caller answers 503). */
int pool_push(struct pool *p, void *item);
int pool_depth(struct pool *p);
/* Finish everything queued, then join the threads. */
void pool_stop(struct pool *p);
#endif
