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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Crash report: async-signal-safe, from the watchdog's stage. */
static char stage_names[SB_STAGES][96];
extern __thread int strata_crash_stage;

static void put(const char *s) { ssize_t w = write(STDERR_FILENO, s, strlen(s)); (void)w; }

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    char num[32], *p = num + sizeof num - 1;
    *p = '\0';
    uintptr_t a = (uintptr_t)si->si_addr;
    do {
        *--p = "0123456789abcdef"[a & 15];
        a >>= 4;
    } while (a && p > num + 2);
    *--p = 'x';
    *--p = '0';
    put("strata worker: fatal signal ");
    put(sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
        : sig == SIGILL ? "SIGILL" : "SIGABRT");
    put(" (address ");
    put(p);
    put(") in ");
    int st = strata_crash_stage;
    put(st >= 0 && st < SB_STAGES && stage_names[st][0] ? stage_names[st] : "the host");
    put("\n");
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
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
}

static void watchdog(const struct runtime *rt, int64_t *warned)
{
    double warn = rt->cfg.server.request_warn_after;
    if (warn <= 0)
        return;
    strata_thread_info th[SB_THREADS];
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

int worker_main(const struct worker_args *a)
{
    char role[32];
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
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* threads inherit the mask */
    install_crash_handler();

    static char err[16384];
    struct runtime *rt = runtime_build(a->config, a->over, a->n_over, err, sizeof err);
    if (!rt) {
        fputs(err, stderr);
        return 1;
    }
    const char *names[SB_STAGES];
    for (int i = 0; i < rt->n_inst && i < SB_STAGES; i++) {
        names[i] = rt->inst[i]->sec.name;
        snprintf(stage_names[i], sizeof stage_names[i], "[%s] (plugin %s)",
                 rt->inst[i]->sec.name, rt->inst[i]->p->name);
    }
    scoreboard_worker_start(a->index, a->generation, rt->cfg.server.threads,
                            rt->cfg.server.queue, names, rt->n_inst < SB_STAGES ? rt->n_inst : SB_STAGES);
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
    int code = 0;
    for (;;) {
        struct timespec tick = {0, 250 * 1000000};
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGUSR1)
            runtime_event(rt, STRATA_EVENT_REOPEN);
        server_sweep(s);
        watchdog(rt, warned);
    }
    runtime_event(rt, STRATA_EVENT_FLUSH);
    server_stop(s, rt->cfg.server.graceful_timeout);
    pipeline_thread_exit();
    runtime_free(rt);
    scoreboard_worker_clear(a->index);
    return code;
}
