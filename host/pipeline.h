/* pipeline.h — running a request through a chain (the onion). */
#ifndef STRATA_PIPELINE_H
#define STRATA_PIPELINE_H
#include "request.h"
#include "runtime.h"

/* Run the whole chain. STRATA_OK with a response in r (a 500 when a stage
 * failed), or STRATA_YIELD when a stage must block and r->on_pool is 0:
 * the caller resets the response and runs it again on the pool. */
int pipeline_run(struct strata_request *r, const struct runtime *rt);
int pipeline_next(struct strata_request *r);
/* on_complete for every stage that handled r. */
void pipeline_complete(struct strata_request *r, int sent_ok);
void *pipeline_thread_data(struct strata_request *r);
int pipeline_timings(struct strata_request *r, strata_timing *out, int max);
int pipeline_stage_depth(struct strata_request *r);
/* The request arrives now: start_ns, and start_tick on the stage clock. */
void pipeline_mark_start(struct strata_request *r);
/* Nanoseconds since start_ns (strata->elapsed_ns). */
int64_t pipeline_elapsed_ns(struct strata_request *r);
/* Release this thread's plugin slots (thread_fini); automatic at thread exit. */
void pipeline_thread_exit(void);
void pipeline_set_cpu_timing(int on);
/* Calibrate the stage clock (once per process; pipeline_run does it too). */
void pipeline_clock_init(void);
int64_t now_ns(void);

#endif
