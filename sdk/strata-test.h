/*
 * strata-test.h — unit-test a strata plugin with cmocka, no server needed.
 *
 * The kit is a host table of its own: it instantiates your plugin from
 * option pairs exactly as the host would (same parsing, same errors),
 * builds requests, and stands in for the rest of the pipeline with a fake
 * next that cmocka programs:
 *
 *   will_return(stt_next, 200);            // status the downstream answers
 *   will_return(stt_next, "hello");        // its body (a C string)
 *
 * A filter that must not call next simply gets no will_return: cmocka then
 * fails the test if it does. Link with -lstrata-test -lcmocka.
 */
#ifndef STRATA_TEST_H
#define STRATA_TEST_H
#include "strata.h"
#include <stddef.h>

typedef struct stt_instance stt_instance;

/* thread_init runs once per instance and OS thread, thread_fini for each
 * at stt_destroy, as in the host; stt_run may be called from many threads.
 *
 * Create an instance from "key", "value", ..., NULL. NULL on error, with
 * the message ("[app:test] root: required option missing ...") in
 * stt_last_error(). `config_dir` (may be NULL) resolves relative paths. */
stt_instance *stt_create(const struct strata_plugin *p, const char *config_dir, ...);
stt_instance *stt_createv(const struct strata_plugin *p, const char *config_dir,
                          const char *const *kv);
void stt_destroy(stt_instance *inst);
void *stt_inst(stt_instance *inst);          /* the plugin's own pointer */

const char *stt_last_error(void);            /* last config_error       */
const char *stt_log_text(void);              /* every log line so far   */
void stt_log_clear(void);

/* A request: "GET", "/a/b?x=1". The path is percent-decoded as the host
 * does; stt_mount() splits off a composite prefix. */
strata_request *stt_request(const char *method, const char *uri);
void stt_header(strata_request *req, const char *name, const char *value);
void stt_body(strata_request *req, const void *data, size_t len);
void stt_client(strata_request *req, const char *addr);
void stt_mount(strata_request *req, const char *script_name);
void stt_may_block(strata_request *req, int may_block);   /* default 1 */
void stt_var(strata_request *req, const char *name, const char *value);

/* Stages the fake pipeline reports through strata->timings(), outermost
 * first, and the depth strata->stage_depth() gives the plugin under test. */
void stt_timing(strata_request *req, const char *section, const char *plugin, int depth,
                int64_t total_ns, int64_t self_ns, int64_t cpu_ns);
void stt_stage_depth(strata_request *req, int depth);

/* A custom downstream instead of will_return. */
void stt_on_next(strata_request *req, int (*fn)(strata_request *req, void *ctx), void *ctx);

/* Run the instance's handle(); returns what it returned. Afterwards a
 * response status of 0 with STRATA_OK means the plugin answered nothing. */
int stt_run(stt_instance *inst, strata_request *req);
int stt_next_calls(strata_request *req);
void stt_complete(stt_instance *inst, strata_request *req, int sent_ok);
void stt_event(stt_instance *inst, int event);

/* The response. stt_body_out reads an fd body too (into the request). */
int stt_status(strata_request *req);
const char *stt_header_out(strata_request *req, const char *name);
const char *stt_body_out(strata_request *req, size_t *len);
int stt_body_is_fd(strata_request *req);
const char *stt_var_out(strata_request *req, const char *name);
void stt_free(strata_request *req);

/* The host table the kit hands to plugins (to call it in tests). */
const strata_host *stt_host(void);
#endif
