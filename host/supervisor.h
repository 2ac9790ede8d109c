/* supervisor.h — `strata serve`: the master process. */
#ifndef STRATA_SUPERVISOR_H
#define STRATA_SUPERVISOR_H
struct serve_opts {
    const char *config;
    char *const *over;
    int n_over;
    int reload;                   /* --reload */
    const char *pid_file;
    int daemon;
};
int supervisor_run(const struct serve_opts *o);
#endif
