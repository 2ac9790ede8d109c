/* worker.c — a worker process: build the runtime (plugins run from here
 * on), serve, and answer signals on the main thread with sigtimedwait so
 * no plugin code ever runs in a signal handler. */
#include "worker.h"
#include "log.h"
#include "pipeline.h"
#include "runtime.h"
#include "scoreboard.h"
#include "server.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- crash report: async-signal-safe, from the watchdog's stage ---- */

static char stage_names[SB_STAGES][96];
static int my_index;
extern __thread int strata_crash_stage;

struct line {
    char b[512];
    size_t n;
};

static void put(struct line *l, const char *s)
{
    while (*s && l->n < sizeof l->b - 1)
        l->b[l->n++] = *s++;
}

static void put_num(struct line *l, uintmax_t v, int base)
{
    char d[32], *p = d + sizeof d;
    *--p = '\0';
    do {
        *--p = "0123456789abcdef"[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v);
    if (base == 16)
        put(l, "0x");
    put(l, p);
}

static const char *fatal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    default: return "SIGABRT";
    }
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    struct line l = {.n = 0};
    put(&l, "strata worker ");
    put_num(&l, (uintmax_t)my_index, 10);
    put(&l, "[");
    put_num(&l, (uintmax_t)getpid(), 10);
    put(&l, "]: fatal signal ");
    put(&l, fatal_name(sig));
    if (si->si_code <= 0 && si->si_pid != getpid()) {
        /* kill(1) from outside: no stage of ours faulted */
        put(&l, " (sent by pid ");
        put_num(&l, (uintmax_t)si->si_pid, 10);
        put(&l, ")");
    } else {
        if (si->si_code > 0) {
            put(&l, " (address ");
            put_num(&l, (uintptr_t)si->si_addr, 16);
            put(&l, ")");
        }
        int st = strata_crash_stage;
        put(&l, " in ");
        put(&l, st >= 0 && st < SB_STAGES && stage_names[st][0] ? stage_names[st] : "the host");
        scoreboard_crash_mark();
    }
    put(&l, "\n");
    ssize_t w = write(STDERR_FILENO, l.b, l.n);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_handler(void)
{
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- the watchdog: a request older than request_warn_after, once ---- */

static void watchdog(const struct runtime *rt, int64_t *warned)
{
    double warn = rt->cfg.server.request_warn_after;
    if (warn <= 0)
        return;
    static strata_thread_info th[SB_THREADS];
    int n = scoreboard_threads(th, SB_THREADS);
    for (int i = 0; i < n; i++) {
        if (th[i].pid != getpid() || !th[i].busy || th[i].thread >= SB_THREADS)
            continue;
        double age = (double)th[i].elapsed_us / 1e6;
        int64_t started = (int64_t)((double)time(NULL) * 1e3 - age * 1e3);
        if (age >= warn && llabs(warned[th[i].thread] - started) > 1000) {
            warned[th[i].thread] = started;
            log_msg(STRATA_LOG_WARN, "request '%s' from %s running for %.1f s, now in [%s] "
                    "(request_warn_after = %g)", th[i].request, th[i].client, age,
                    th[i].stage[0] ? th[i].stage : "host", warn);
        }
    }
}

void reopen_stderr(const char *path)
{
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_msg(STRATA_LOG_ERROR, "cannot reopen the error log '%s': %s", path, strerror(errno));
        return;
    }
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* ---- graceful stop with a deadline ---- */

/* server_stop() waits for the requests in flight; a request stuck in a
 * plugin would hold it (and the plugin's destroy must not run under it).
 * This thread enforces graceful_timeout: past it, the worker flushes and
 * exits without waiting. */
struct stop_guard {
    double grace;
    struct runtime *rt;
    _Atomic int done;
};

static void *stop_guard_main(void *arg)
{
    struct stop_guard *g = arg;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)g->grace + 1;   /* + the 1 s linger of server_stop */
    until.tv_nsec += (long)((g->grace - (double)(time_t)g->grace) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!atomic_load(&g->done)) {
        struct timespec now, nap = {0, 20 * 1000000};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
            char what[512] = "";
            scoreboard_oldest(my_index, what, sizeof what);
            log_msg(STRATA_LOG_WARN, "graceful_timeout (%g s) reached with requests in flight%s%s: "
                    "exiting without them", g->grace, what[0] ? ", e.g. " : "", what);
            runtime_event(g->rt, STRATA_EVENT_FLUSH);
            _exit(0);
        }
        nanosleep(&nap, NULL);
    }
    return NULL;
}

int worker_main(const struct worker_args *a)
{
    char role[32];
    my_index = a->index;
    snprintf(role, sizeof role, "worker %d", a->index);
    log_set_role(role);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGPIPE);
    /* Exactly these, for every thread (they inherit the mask); a signal
     * that arrived since the fork is still pending and read below. */
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    install_crash_handler();

    static char err[16384];
    /* Load the generation's own copy of the INI, not whatever the file
     * holds now: a worker restarted after a crash must not pick up an
     * edit that was never reloaded. */
    char text_path[64] = "";
    int text_fd = a->config_text ? memfd_create("strata.ini", MFD_CLOEXEC) : -1;
    if (text_fd >= 0 && write(text_fd, a->config_text, a->config_len) == (ssize_t)a->config_len)
        snprintf(text_path, sizeof text_path, "/proc/self/fd/%d", text_fd);
    struct runtime *rt = runtime_build_from(a->config, text_path[0] ? text_path : a->config,
                                            a->over, a->n_over, err, sizeof err);
    if (text_fd >= 0)
        close(text_fd);
    if (!rt) {
        fputs(err, stderr);
        return 1;
    }
    const char *names[SB_STAGES], *plugins[SB_STAGES];
    int n = rt->n_inst < SB_STAGES ? rt->n_inst : SB_STAGES;
    for (int i = 0; i < n; i++) {
        names[i] = rt->inst[i]->sec.name;
        plugins[i] = rt->inst[i]->p->name;
        snprintf(stage_names[i], sizeof stage_names[i], "[%s] (plugin %s)",
                 rt->inst[i]->sec.name, rt->inst[i]->p->name);
    }
    scoreboard_worker_start(a->index, a->generation, rt->cfg.server.threads,
                            rt->cfg.server.queue, names, plugins, n);
    struct server *s = server_start(rt, a->listen_fd, err, sizeof err);
    if (!s) {
        log_msg(STRATA_LOG_ERROR, "%s", err);
        runtime_free(rt);
        return 1;
    }
    if (a->ready_fd >= 0) {
        /* Tell the supervisor we serve, and which files --reload should watch. */
        dprintf(a->ready_fd, "ready\n");
        for (int i = 0; i < rt->n_inst; i++)
            dprintf(a->ready_fd, "%s\n", rt->inst[i]->so->path);
        for (struct watch *w = rt->watches; w; w = w->next)
            dprintf(a->ready_fd, "%s\n", w->path);
        close(a->ready_fd);
    }
    int64_t warned[SB_THREADS] = {0};
    pid_t parent = getppid();
    for (;;) {
        struct timespec tick = {0, 250 * 1000000};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGUSR1) {
            reopen_stderr(a->stderr_path);
            runtime_event(rt, STRATA_EVENT_REOPEN);
        }
        if (getppid() != parent) { /* the supervisor is gone (SIGKILL): stop too */
            log_msg(STRATA_LOG_WARN, "the supervisor is gone: stopping");
            break;
        }
        server_sweep(s);
        watchdog(rt, warned);
    }
    runtime_event(rt, STRATA_EVENT_FLUSH);
    struct stop_guard g = {.grace = rt->cfg.server.graceful_timeout, .rt = rt};
    pthread_t guard;
    int guarded = pthread_create(&guard, NULL, stop_guard_main, &g) == 0;
    /* No deadline here: server_stop must not stop libmicrohttpd under a
     * suspended connection; the guard enforces graceful_timeout. */
    server_stop(s, guarded ? 1e9 : rt->cfg.server.graceful_timeout);
    if (guarded) {
        atomic_store(&g.done, 1);
        pthread_join(guard, NULL);
    }
    pipeline_thread_exit();
    runtime_free(rt);
    scoreboard_worker_clear(a->index);
    return 0;
}
