/*
 * strata.h — the one header a strata plugin needs.
 *
 * A plugin is a shared object exporting one data symbol, `strata_plugin`,
 * a const descriptor whose first fields are the ABI stamp. The host reads
 * the stamp before running any plugin code and refuses another major
 * version. Host services reach the plugin through a table of function
 * pointers (struct strata_host) stored into the plugin's own global at
 * load, so a plugin has no link-time tie to the host and can be unit
 * tested against the SDK test kit (strata-test.h), which is just another
 * table.
 *
 *   #include <strata/strata.h>
 *   STRATA_HOST_DECLARE;                       // static const strata_host *strata
 *   static int hello_handle(void *inst, strata_request *req) {
 *       return strata->respond(req, 200, "text/plain", "hello\n", 6);
 *   }
 *   STRATA_PLUGIN_DEFINE = {
 *       STRATA_PLUGIN_HEADER, .name = "hello", .version = "1.0",
 *       .summary = "says hello", .kind = STRATA_APP, .host = &strata,
 *       .handle = hello_handle,
 *   };
 *
 * Rules of the ABI
 *  - struct strata_host and struct strata_plugin are append-only. A minor
 *    bump adds fields at the end; a plugin that uses a newer entry checks
 *    `strata->abi_minor` first. A major bump breaks; the host refuses it.
 *  - Strings handed to a plugin are borrowed: valid until the response is
 *    sent (request data) or until destroy (configuration).
 *  - Strings handed to the host (headers, variables) are copied by it.
 *  - Return codes: STRATA_OK (0) or a negative STRATA_* code.
 *
 * Changelog
 *  1.0 (2026-11-25) first version.
 *  1.1 (2026-11-25) elapsed_ns: time since the request arrived without a
 *      clock_gettime (per-request loggers and profilers call it on every
 *      request).
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_ABI_MAJOR 1
#define STRATA_ABI_MINOR 1

#define STRATA_EXPORT __attribute__((visibility("default")))
#if defined(__GNUC__)
#define STRATA_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define STRATA_PRINTF(f, a)
#endif

/* ---- return codes ------------------------------------------------------ */

enum {
    STRATA_OK = 0,
    STRATA_ERROR = -1,   /* the host answers 500 and logs the section      */
    STRATA_YIELD = -2,   /* "I must block": re-run the request on the pool */
};

/* ---- opaque handles ---------------------------------------------------- */

typedef struct strata_request strata_request;   /* one HTTP exchange        */
typedef struct strata_section strata_section;   /* one [app:]/[filter:]     */
typedef struct strata_host strata_host;
/* The descriptor type is `struct strata_plugin` (no typedef: the exported
 * object itself is named strata_plugin). */

/* ---- options ------------------------------------------------------------
 * A plugin lists its options in a static table; the host parses the INI
 * values, checks them, fills the plugin's config struct at `offset`, and
 * prints the table for `strata plugins NAME`.
 *
 *   type                 C field          INI value
 *   STRATA_OPT_STRING    const char *     any text
 *   STRATA_OPT_PATH      const char *     a path; relative ones are taken
 *                                         from the config file's folder
 *   STRATA_OPT_ENUM      const char *     one of `choices` ("a|b|c")
 *   STRATA_OPT_INT       int64_t          decimal integer
 *   STRATA_OPT_SIZE      int64_t          bytes, with K/M/G suffix (1024)
 *   STRATA_OPT_DOUBLE    double           decimal number (durations: s)
 *   STRATA_OPT_BOOL      int              true/false/yes/no/on/off/1/0
 *   STRATA_OPT_LIST      strata_list      words split on space and comma
 */
enum strata_opt_type {
    STRATA_OPT_STRING = 1,
    STRATA_OPT_PATH,
    STRATA_OPT_ENUM,
    STRATA_OPT_INT,
    STRATA_OPT_SIZE,
    STRATA_OPT_DOUBLE,
    STRATA_OPT_BOOL,
    STRATA_OPT_LIST,
};

typedef struct strata_list {
    size_t n;
    const char *const *items;
} strata_list;

typedef struct strata_option {
    const char *name;
    int type;              /* enum strata_opt_type                     */
    const char *def;       /* default as INI text; NULL: none          */
    int required;
    size_t offset;         /* offsetof(your_config, field)             */
    const char *help;      /* one line                                 */
    const char *choices;   /* STRATA_OPT_ENUM: "a|b|c"; also min..max  */
} strata_option;           /* for INT/SIZE/DOUBLE as "0..65535"        */

#define STRATA_OPTIONS_END { NULL, 0, NULL, 0, 0, NULL, NULL }

/* ---- the plugin descriptor ---------------------------------------------- */

enum strata_kind {
    STRATA_APP = 1,        /* terminal handler: must answer            */
    STRATA_FILTER = 2,     /* middleware: answers or calls next        */
    STRATA_APP_FILTER = 3, /* either, decided by the section type      */
};

enum strata_flags {
    /* handle() never blocks: no disk or network wait, no lock held long,
     * no slow hash. A pipeline whose stages all carry this flag runs on
     * the I/O thread. A stage that meets a slow case returns STRATA_YIELD
     * (see may_block below). Plugins without it always run on the pool. */
    STRATA_NONBLOCKING = 1u << 0,
};

enum strata_event {
    STRATA_EVENT_REOPEN = 1,   /* SIGUSR1: reopen log files             */
    STRATA_EVENT_FLUSH = 2,    /* graceful stop is near: flush buffers  */
};

struct strata_plugin {
    /* stamp, read before anything else: fill with STRATA_PLUGIN_HEADER */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    const char *name;          /* the name `use =` finds it by          */
    const char *version;
    const char *summary;       /* one line for `strata plugins`         */
    unsigned kind;             /* enum strata_kind                      */
    unsigned flags;            /* enum strata_flags                     */

    const strata_host **host;  /* where the host stores its table       */
    const strata_option *options;   /* ends with STRATA_OPTIONS_END     */
    size_t config_size;        /* sizeof(your_config)                   */

    /* Per INI section. `config` is filled from the options and lives
     * until destroy. Report problems with strata->config_error(). */
    int (*create)(const strata_section *sec, const void *config, void **inst);
    void (*destroy)(void *inst);

    /* Optional, per thread that runs this instance, lazily on its first
     * request there; the slot is what strata->thread_data() returns. */
    int (*thread_init)(void *inst, void **slot);
    void (*thread_fini)(void *inst, void *slot);

    /* The request. A filter calls strata->next(req) or answers itself;
     * an app answers. Return STRATA_OK, STRATA_ERROR or STRATA_YIELD. */
    int (*handle)(void *inst, strata_request *req);

    /* Optional: the exchange ended (sent, or the client went away).
     * Status, headers and resp_length() are readable; the body is not. */
    void (*on_complete)(void *inst, strata_request *req, int sent_ok);

    /* Optional: STRATA_EVENT_* from the host's control thread. */
    void (*on_event)(void *inst, int event);
};

#define STRATA_PLUGIN_HEADER                                              \
    .abi_major = STRATA_ABI_MAJOR, .abi_minor = STRATA_ABI_MINOR,         \
    .struct_size = (uint32_t)sizeof(struct strata_plugin)

#define STRATA_HOST_DECLARE static const strata_host *strata

/* Defines the one exported symbol: STRATA_PLUGIN_DEFINE = { ... }; */
#define STRATA_PLUGIN_DEFINE STRATA_EXPORT const struct strata_plugin strata_plugin

/* ---- what the host reports about itself (status pages) ------------------ */

typedef struct strata_timing {
    const char *section;       /* "filter:auth"                         */
    const char *plugin;        /* "auth"                                */
    int depth;                 /* 0 = outermost stage                   */
    int64_t total_ns;          /* inside the stage, next() included     */
    int64_t self_ns;           /* total minus the stages it called      */
    int64_t cpu_ns;            /* thread CPU time, self                 */
} strata_timing;

#define STRATA_INFO_TEXT 160

typedef struct strata_thread_info {
    int worker;                /* index of the worker process           */
    int pid;
    int thread;                /* index within the worker               */
    int busy;
    int64_t elapsed_us;        /* of the current request                */
    uint64_t requests;         /* served by this thread                 */
    char request[STRATA_INFO_TEXT];  /* "GET /path" (query removed)     */
    char client[64];
    char stage[64];            /* section running now                   */
} strata_thread_info;

typedef struct strata_worker_info {
    int worker;
    int pid;
    int64_t started_unix;
    uint64_t requests;
    uint64_t by_class[6];      /* [1..5]: 1xx..5xx answered             */
    int threads;
    int queue_depth;
    int queue_limit;
    int connections;
    int generation;            /* bumps on each reload                  */
} strata_worker_info;

typedef struct strata_instance_info {
    const char *section;
    const char *plugin;
    const char *version;
    const char *path;          /* the .so                               */
} strata_instance_info;

/* ---- the host table ---------------------------------------------------- */

enum strata_log_level { STRATA_LOG_ERROR = 0, STRATA_LOG_WARN, STRATA_LOG_INFO, STRATA_LOG_DEBUG };

enum strata_body_mode {
    STRATA_BODY_STATIC = 0,    /* outlives the response: no copy        */
    STRATA_BODY_COPY,          /* the host copies it now                */
    STRATA_BODY_FREE,          /* malloc'd: the host free()s it         */
};

struct strata_host {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    /* -- configuration time -- */
    void (*config_error)(const strata_section *sec, const char *key,
                         const char *fmt, ...) STRATA_PRINTF(3, 4);
    const char *(*section_name)(const strata_section *sec);   /* "filter:auth" */
    const char *(*config_dir)(const strata_section *sec);     /* %(here)s      */
    void (*watch_file)(const strata_section *sec, const char *path);

    /* -- logging: "[filter:auth] message" on the host's error log -- */
    void (*log)(const strata_section *sec, int level, const char *fmt, ...)
        STRATA_PRINTF(3, 4);

    /* -- request, borrowed strings -- */
    const char *(*method)(strata_request *req);
    const char *(*path)(strata_request *req);        /* below the mount, decoded */
    const char *(*script_name)(strata_request *req); /* the mount prefix ("" at /) */
    const char *(*uri)(strata_request *req);         /* as sent, with query      */
    const char *(*query)(strata_request *req);       /* raw, without '?'; NULL   */
    const char *(*query_arg)(strata_request *req, const char *name);
    const char *(*version)(strata_request *req);     /* "HTTP/1.1"               */
    const char *(*header)(strata_request *req, const char *name);
    int (*header_each)(strata_request *req,
                       int (*cb)(void *ctx, const char *name, const char *value),
                       void *ctx);
    const char *(*client)(strata_request *req);      /* "127.0.0.1"              */
    const void *(*body)(strata_request *req, size_t *len);

    /* -- response -- */
    void (*set_status)(strata_request *req, int status);
    int (*status)(strata_request *req);
    int (*set_header)(strata_request *req, const char *name, const char *value);
    int (*add_header)(strata_request *req, const char *name, const char *value);
    int (*remove_header)(strata_request *req, const char *name);
    const char *(*resp_header)(strata_request *req, const char *name);
    int (*resp_header_each)(strata_request *req,
                            int (*cb)(void *ctx, const char *name, const char *value),
                            void *ctx);
    int (*set_body)(strata_request *req, const void *data, size_t len, int mode);
    /* Memory the plugin owns, released by `release(arg)` after sending. */
    int (*set_body_ref)(strata_request *req, const void *data, size_t len,
                        void (*release)(void *arg), void *arg);
    /* The fd passes to the host on success (closed after sending). */
    int (*set_body_fd)(strata_request *req, int fd, uint64_t offset, uint64_t len);
    /* The memory body (NULL when there is none or it is an fd). */
    const void *(*resp_body)(strata_request *req, size_t *len);
    /* The fd body: returns the fd (still the host's) or -1. */
    int (*resp_body_fd)(strata_request *req, uint64_t *offset, uint64_t *len);
    /* Length of the body whichever form it has; -1 when none. */
    int64_t (*resp_length)(strata_request *req);
    /* Shorthand: status, Content-Type, body copied. */
    int (*respond)(strata_request *req, int status, const char *content_type,
                   const void *body, size_t len);

    /* -- the onion -- */
    int (*next)(strata_request *req);        /* STRATA_OK or STRATA_YIELD */
    int (*may_block)(strata_request *req);   /* 1 on a pool thread       */

    /* -- per request memory and variables -- */
    void *(*alloc)(strata_request *req, size_t size);   /* freed with the request */
    char *(*sprintf)(strata_request *req, const char *fmt, ...) STRATA_PRINTF(2, 3);
    int (*var_set)(strata_request *req, const char *name, const char *value);
    const char *(*var_get)(strata_request *req, const char *name);

    /* -- per thread -- */
    void *(*thread_data)(strata_request *req);  /* this stage's slot    */

    /* -- time -- */
    int64_t (*now_ns)(void);                         /* CLOCK_MONOTONIC  */
    int64_t (*start_ns)(strata_request *req);        /* request arrived  */
    int64_t (*start_unix_us)(strata_request *req);   /* wall clock       */
    /* Stages entered so far, outermost first. Returns the count. */
    int (*timings)(strata_request *req, strata_timing *out, int max);
    int (*stage_depth)(strata_request *req);         /* the caller's     */

    /* -- the host itself (status pages) -- */
    int (*workers)(strata_worker_info *out, int max);
    int (*threads)(strata_thread_info *out, int max);
    int (*instances)(strata_instance_info *out, int max);
    const char *(*host_version)(void);

    /* -- 1.1 -- */
    /* Nanoseconds since start_ns(req), read from the clock the host times
     * stages with (the invariant TSC where there is one): cheaper than
     * now_ns() - start_ns(req) and the same figure. Check
     * strata->abi_minor >= 1 before calling it. */
    int64_t (*elapsed_ns)(strata_request *req);
};

/* Well-known per-request variables. */
#define STRATA_VAR_USER "remote_user"   /* set by auth, printed by %u */
#define STRATA_VAR_ROUTE "route"        /* the mount or pipeline name  */

#ifdef __cplusplus
}
#endif
#endif /* STRATA_H */
