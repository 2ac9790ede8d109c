/* config.h — the INI file: sections, interpolated values, [server:main].
 * config.c is the only user of iniparser. */
#ifndef STRATA_CONFIG_H
#define STRATA_CONFIG_H
#include <stddef.h>
#include <stdint.h>

enum section_type { SEC_SERVER = 1, SEC_APP, SEC_FILTER, SEC_PIPELINE, SEC_COMPOSITE, SEC_DEFAULT };

struct cfg_kv {
    char *key, *value;            /* value already interpolated */
};

struct cfg_section {
    char *full;                   /* "filter:auth"  */
    char *name;                   /* "auth"         */
    int type;
    struct cfg_kv *kv;
    size_t n_kv;
};

struct server_cfg {
    char *host;
    int port;
    int threads, io_threads, workers, queue;
    double connection_timeout;
    int max_connections;
    int64_t max_header_size, max_body_size, max_requests;
    double request_warn_after, hung_restart_after, graceful_timeout;
    char *plugin_path, *tls_cert, *tls_key, *error_log;
    int stage_cpu_time;
};

struct config {
    char *path;                   /* as given           */
    char *dir;                    /* %(here)s, absolute */
    struct cfg_section *sec;
    size_t n_sec;
    struct server_cfg server;
    char *text;                   /* the file as read: what workers load */
    size_t text_len;
};

/* Load and interpolate `path` with NAME=VALUE overrides. On error returns
 * -1 and writes "FILE: [SECTION] KEY: what" lines into err. */
int config_load(struct config *c, const char *path, char *const *overrides, int n_over,
                char *err, size_t errlen);
/* The same, reading the INI from `read_path` while `path` names it (for
 * %(here)s, __file__ and messages): workers load the supervisor's copy. */
int config_load_from(struct config *c, const char *path, const char *read_path,
                     char *const *overrides, int n_over, char *err, size_t errlen);
void config_free(struct config *c);

const struct cfg_section *config_section(const struct config *c, int type, const char *name);
const char *config_get(const struct cfg_section *s, const char *key);
const char *section_type_name(int type);
#endif
