/* scoreboard.h — what every worker and thread is doing, in memory shared
 * by the supervisor and its workers (Apache's scoreboard idea). Writers
 * own their slot; readers take a consistent copy with a sequence count.
 * The watchdog, the crash report and the status page all read it. */
#ifndef STRATA_SCOREBOARD_H
#define STRATA_SCOREBOARD_H
#include "../sdk/strata.h"
#include <stdatomic.h>
#include <stdint.h>

#define SB_WORKERS 64
#define SB_THREADS 160
#define SB_STAGES 64

struct strata_request;

/* Supervisor: map the shared board before forking workers. */
int scoreboard_create(void);
/* Worker `idx` of `generation` starts; names its stages (sections and
 * their plugins) for readers. */
void scoreboard_worker_start(int idx, int generation, int threads, int queue_limit,
                             const char *const *stage_names, const char *const *plugin_names,
                             int n_stages);
void scoreboard_worker_clear(int idx);
/* The calling thread's slot (lazily registered). */
void scoreboard_begin(const struct strata_request *r);
/* The calling thread's stage slot (NULL until it served a request): the
 * pipeline stores the running stage there, inline, twice per stage. */
extern __thread _Atomic int *scoreboard_stage_slot;
static inline void scoreboard_stage(int stage_id)
{
    if (scoreboard_stage_slot)
        atomic_store_explicit(scoreboard_stage_slot, stage_id, memory_order_relaxed);
}
void scoreboard_end(int status);
/* The request moves to another thread: idle here, not counted. */
void scoreboard_handoff(void);
void scoreboard_queue(int depth);
void scoreboard_connections(int delta);

/* Readers. */
int scoreboard_workers(strata_worker_info *out, int max);
int scoreboard_threads(strata_thread_info *out, int max);
/* Oldest busy request of worker idx: its age in seconds (0 if idle) and
 * text: "'GET /x' from 1.2.3.4 in [app:x] (plugin y)". */
double scoreboard_oldest(int idx, char *what, size_t len);
/* Crash handler (async-signal-safe): the calling thread is the one that
 * faulted. */
void scoreboard_crash_mark(void);
/* After worker idx died: the request of the thread that faulted, or else
 * the oldest one it was serving; "" when idle. */
void scoreboard_crash_report(int idx, char *what, size_t len);
uint64_t scoreboard_requests(int idx);
#endif
