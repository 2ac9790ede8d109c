/* request.h — the host's side of struct strata_request.
 *
 * One struct serves the real server and the SDK test kit: the server fills
 * the input fields from libmicrohttpd, the test kit from a test; both share
 * request.c for everything a plugin can call on a request. */
#ifndef STRATA_REQUEST_H
#define STRATA_REQUEST_H
#include "../sdk/strata.h"
#include "arena.h"

#define REQUEST_MAX_DEPTH 32
#define REQUEST_ARENA_INLINE 3072

enum body_kind { BODY_NONE = 0, BODY_MEM, BODY_FD };

struct header {
    const char *name, *value;
    struct header *next;
};

struct var {
    const char *name, *value;
    struct var *next;
};

struct chain;       /* pipeline.h */
struct instance;    /* loader.h   */

/* Where request headers come from: MHD, or the test kit. */
struct request_source {
    const char *(*header)(void *src, const char *name);
    int (*header_each)(void *src, int (*cb)(void *, const char *, const char *), void *ctx);
    const char *(*query_arg)(void *src, const char *name);
};

struct stage_timing {
    const struct instance *inst;
    int level, next_called;
    int64_t start_ns, total_ns, child_ns;
    int64_t cpu_start_ns, cpu_ns, child_cpu_ns;
};

struct strata_request {
    struct arena arena;

    /* input */
    const char *method, *uri, *path, *script_name, *query, *version, *client;
    const struct request_source *source;
    void *src;
    const char *body_in;
    size_t body_in_len;

    /* response */
    int status;
    struct header *resp_headers, **resp_tail;
    int body_kind;
    const void *body;
    size_t body_len;
    void (*body_release)(void *);
    void *body_release_arg;
    int body_fd;
    uint64_t body_off;
    int handed;                      /* the body went to MHD: length only */

    struct var *vars;

    /* pipeline state (pipeline.c) */
    const struct chain *chain;
    int pos;                         /* index of the stage running now   */
    int cur_t;                       /* timing slot of that stage, or -1 */
    const char *route;               /* mount prefix, "/" at the top     */
    int depth;                       /* stages entered                   */
    int n_timings;
    int64_t start_ns, start_unix_us;
    int64_t start_tick;              /* the stage clock at start_ns; 0: none */
    int on_pool;
    int yielded;
    void *owner;                     /* server or test kit               */

    /* Not cleared by request_init: entries up to n_timings are written
     * before they are read. */
    struct stage_timing timings[REQUEST_MAX_DEPTH];
    char arena_inline[REQUEST_ARENA_INLINE];
};

void request_init(struct strata_request *r);
/* Drop the response and variables (before a re-run on the pool). */
void request_reset_response(struct strata_request *r);
/* Drop status, headers and body only (a stage failed: the host answers). */
void request_clear_response(struct strata_request *r);
int request_add_header(struct strata_request *r, const char *name, const char *value);
/* Release the body and the arena. */
void request_fini(struct strata_request *r);

/* Fill the request/response/memory entries of a host table. */
void request_fill_api(struct strata_host *t);

/* Used by the server when converting the response. */
int request_respond(struct strata_request *r, int status, const char *ctype,
                    const void *body, size_t len);
void request_clear_body(struct strata_request *r);
#endif
