/* runtime.h — a loaded configuration: plugin instances and the chains
 * that route requests through them. Immutable once built, so every
 * thread reads it without locks. */
#ifndef STRATA_RUNTIME_H
#define STRATA_RUNTIME_H
#include "config.h"
#include "loader.h"
#include "options.h"
#include <stdatomic.h>
#include <stdio.h>

struct instance;

struct strata_section {
    const char *name;             /* "filter:auth" */
    const char *dir;              /* config folder */
    const char *file;             /* config file   */
    struct instance *inst;
    struct runtime *rt;
};

struct instance {
    int id;                       /* index into per-thread slot arrays */
    struct strata_section sec;
    const struct cfg_section *cfg;
    const struct strata_plugin *p;
    struct plugin_so *so;
    void *config;
    struct optstore store;
    void *inst;
    int created;
    int is_filter;
    int blocking;                 /* not declared STRATA_NONBLOCKING   */
    int concurrency;              /* host option; 0 = no limit         */
    double timeout;               /* host option, seconds; 0 = none    */
    int64_t timeout_ns;           /* the same, for the per-stage check */
    _Atomic int inflight;
};

enum node_kind { NODE_STAGE = 1, NODE_URLMAP };

struct mount {
    char *prefix;                 /* "/assets" ("" for "/")            */
    size_t len;
    const struct chain *target;
};

struct urlmap {
    const char *section;
    struct mount *mounts;         /* longest prefix first              */
    size_t n;
};

struct node {
    int kind;
    struct instance *inst;        /* NODE_STAGE  */
    struct urlmap *map;           /* NODE_URLMAP */
};

struct chain {
    const char *name;             /* the section it came from          */
    int n;
    struct node *nodes;
};

struct watch {
    char *path;
    struct watch *next;
};

struct runtime {
    struct config cfg;
    struct plugin_so *sos;
    struct instance **inst;
    int n_inst;
    struct chain **chains;        /* built chains, owned               */
    int n_chains;
    struct urlmap **maps;
    int n_maps;
    const struct chain *entry;    /* "main"                            */
    struct watch *watches;        /* files plugins named, for --reload */
};

/* Load `path` and build every instance and chain. On failure returns NULL
 * with the user-facing messages in err. */
struct runtime *runtime_build(const char *path, char *const *over, int n_over,
                              char *err, size_t errlen);
/* The same, the INI read from read_path (see config_load_from). */
struct runtime *runtime_build_from(const char *path, const char *read_path, char *const *over,
                                   int n_over, char *err, size_t errlen);
/* Destroy instances in reverse order, then unload. */
void runtime_free(struct runtime *rt);
/* Print the resolved pipelines (for `strata check`). */
void runtime_print(const struct runtime *rt, FILE *out);
/* Deliver STRATA_EVENT_* to every instance. */
void runtime_event(struct runtime *rt, int event);
#endif
