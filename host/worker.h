/* worker.h — one worker process: runtime + server + signals. */
#ifndef STRATA_WORKER_H
#define STRATA_WORKER_H
#include <stddef.h>
struct worker_args {
    const char *config;
    char *const *over;
    int n_over;
    int listen_fd;                /* shared with every worker; never closed here */
    int index, generation;
    int ready_fd;                 /* "ready\n" + watched paths, then closed */
    const char *stderr_path;      /* the error log file to reopen on SIGUSR1, or NULL */
    const char *config_text;      /* the supervisor's copy of the INI, or NULL */
    size_t config_len;
};
/* Runs until SIGTERM/SIGINT; returns the process exit code. */
int worker_main(const struct worker_args *a);
/* Reopen `path` (the error log file) onto stderr; for SIGUSR1. */
void reopen_stderr(const char *path);
#endif
