/* worker.h — one worker process: runtime + server + signals. */
#ifndef STRATA_WORKER_H
#define STRATA_WORKER_H
struct worker_args {
    const char *config;
    char *const *over;
    int n_over;
    int listen_fd;
    int index, generation;
    int ready_fd;                 /* "ready\n" + watched paths, then closed */
};
/* Runs until SIGTERM/SIGINT; returns the process exit code. */
int worker_main(const struct worker_args *a);
#endif
