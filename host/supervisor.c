/* supervisor.c — the master: owns the listening socket, never loads a
 * plugin, forks workers that inherit the socket, replaces the ones that
 * die, hang or reach max_requests, and reloads by starting a new
 * generation before draining the old one, so no request is refused.
 *
 * One event loop: a signalfd for signals and the "ready" pipes of the
 * workers that are starting, polled together, so a reload in progress
 * never stops the supervisor from reaping, relaying or stopping.
 *
 * Worker slots: STARTING (forked, not yet ready) → RUNNING → RETIRING
 * (SIGTERM sent: draining) → FREE (reaped). The workers that count for
 * `workers` are those of the serving generation, STARTING or RUNNING,
 * minus a RUNNING one whose replacement is starting (hung or
 * max_requests): the replacement counts in its place. Whenever fewer
 * count than configured, new ones are forked — after a back-off when
 * workers die young (a crash loop). A reload forks a whole new
 * generation; it becomes the serving one only when every new worker said
 * ready, and only then are the old ones drained. A new generation that
 * fails to start is a failed reload, never a crash loop. */
#include "supervisor.h"
#include "config.h"
#include "log.h"
#include "scoreboard.h"
#include "worker.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { W_FREE = 0, W_STARTING, W_RUNNING, W_RETIRING };

#define START_TIMEOUT 60.0         /* s for a worker to say ready           */
#define YOUNG 2.0                  /* s: a worker dying younger is a crash loop */
#define BACKOFF_MAX 10.0
#define MAX_WATCH 256

struct wslot {
    int state;
    pid_t pid;
    int generation;
    int ready_fd;                 /* read end while starting */
    char ready_buf[8192];         /* "ready\n" + the files to watch */
    size_t ready_len;
    double spawned, ready_at, kill_at;
    int replaced_by;              /* slot of the replacement starting, or -1 */
    int replaces;                 /* slot this one replaces once ready, or -1 */
    double retry_replace_at;      /* a replacement failed: not before then */
    int killed;                   /* we sent SIGKILL */
    int quiet;                    /* its end was reported already */
};

struct watch_ent {
    char path[PATH_MAX];
    struct timespec mtime;
    off_t size;
    ino_t ino;
    dev_t dev;
};

struct sup {
    const struct serve_opts *o;
    struct config cfg;            /* the serving generation's config */
    struct config next_cfg;       /* a reload's, while it starts     */
    int listen_fd, sig_fd;
    int generation;               /* serving                          */
    int last_generation;          /* numbers are never reused         */
    int pending;                  /* generation starting, or 0        */
    int pending_failed;           /* its workers that failed to start */
    double pending_deadline;
    const char *queued_reload;    /* a reload asked while one runs    */
    struct wslot w[SB_WORKERS];
    int quick_deaths;             /* workers that died young in a row */
    double respawn_at;
    int stopping;
    double stop_deadline;
    struct watch_ent watch[MAX_WATCH];
    int n_watch;
    double change_seen;
    char changed[PATH_MAX];
    int notify_fd;                /* --daemon: the launcher waits on it */
    int notify_tty;               /* stderr goes to the launcher until ready */
    char stderr_path[PATH_MAX];   /* stderr is this file: reopened on SIGUSR1 */
    int orig_stderr;              /* the terminal, with error_log: told where we listen */
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *signame(int sig)
{
    static char buf[16];
    const char *n = sigabbrev_np(sig);
    if (n) {
        snprintf(buf, sizeof buf, "SIG%s", n);
        return buf;
    }
    snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}

static int open_listener(const struct config *c, char *host_out, size_t hl, int *port_out)
{
    const struct server_cfg *s = &c->server;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    int rc = getaddrinfo(s->host, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "%s: [server:main] host: cannot resolve '%s': %s\n", c->path, s->host,
                gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "%s: [server:main] port: cannot listen on %s:%d: %s\n", c->path, s->host,
                s->port, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    getnameinfo((struct sockaddr *)&ss, sl, host_out, (socklen_t)hl, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
    *port_out = atoi(port);
    return fd;
}

/* ---- workers ---- */

static int spawn(struct sup *S, int generation)
{
    int idx = -1;
    for (int i = 0; i < SB_WORKERS && idx < 0; i++)
        if (S->w[i].state == W_FREE)
            idx = i;
    if (idx < 0) {
        log_msg(STRATA_LOG_ERROR, "no free worker slot (at most %d worker processes, draining "
                "ones included)", SB_WORKERS);
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC)) {
        log_msg(STRATA_LOG_ERROR, "pipe: %s", strerror(errno));
        return -1;
    }
    scoreboard_worker_clear(idx);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        log_msg(STRATA_LOG_ERROR, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The signal mask stays as it is (all ours blocked) until the
         * worker sets its own: a SIGHUP or SIGUSR1 in between must not
         * kill it. */
        close(p[0]);
        close(S->sig_fd);
        if (S->notify_fd >= 0)
            close(S->notify_fd);
        for (int i = 0; i < SB_WORKERS; i++)
            if (S->w[i].ready_fd >= 0)
                close(S->w[i].ready_fd);
        signal(SIGCHLD, SIG_DFL);
        const struct config *gc = generation == S->pending && S->next_cfg.text ? &S->next_cfg : &S->cfg;
        struct worker_args a = {S->o->config, S->o->over, S->o->n_over, S->listen_fd, idx,
                                generation, p[1], S->stderr_path[0] ? S->stderr_path : NULL,
                                gc->text, gc->text_len};
        _exit(worker_main(&a));
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    struct wslot *w = &S->w[idx];
    memset(w, 0, sizeof *w);
    w->state = W_STARTING;
    w->pid = pid;
    w->generation = generation;
    w->ready_fd = p[0];
    w->spawned = mono();
    w->replaced_by = w->replaces = -1;
    return idx;
}

static void close_ready(struct wslot *w)
{
    if (w->ready_fd >= 0)
        close(w->ready_fd);
    w->ready_fd = -1;
}

/* Read what a starting worker wrote on its pipe; 1 once it closed it. */
static int drain_ready(struct wslot *w)
{
    while (w->ready_fd >= 0) {
        ssize_t n = read(w->ready_fd, w->ready_buf + w->ready_len,
                         sizeof w->ready_buf - 1 - w->ready_len);
        if (n > 0) {
            w->ready_len += (size_t)n;
            if (w->ready_len < sizeof w->ready_buf - 1)
                continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return 0;
        }
        close_ready(w);            /* closed (or full): all said */
    }
    w->ready_buf[w->ready_len] = '\0';
    return 1;
}

static int said_ready(const struct wslot *w) { return strncmp(w->ready_buf, "ready\n", 6) == 0; }

/* A starting worker's pipe is readable: it writes "ready\n" and the
 * files to watch, then closes it. An end without "ready" means it failed
 * or crashed; reap() says which, with its exit status. */
static void read_ready(struct sup *S, int i)
{
    struct wslot *w = &S->w[i];
    if (!drain_ready(w) || !said_ready(w))
        return;
    w->state = W_RUNNING;
    w->ready_at = mono();
    log_msg(STRATA_LOG_INFO, "worker %d (pid %d) ready, generation %d", i, (int)w->pid,
            w->generation);
    if (w->replaces >= 0) {
        struct wslot *old = &S->w[w->replaces];
        if (old->state == W_RUNNING && old->replaced_by == i) {
            old->state = W_RETIRING;
            old->kill_at = mono() + S->cfg.server.graceful_timeout + 2;
            kill(old->pid, SIGTERM);
        }
        w->replaces = -1;
    }
}

/* Drain a worker: it stops accepting, finishes what it has, and exits. */
static void retire(struct sup *S, int i)
{
    struct wslot *w = &S->w[i];
    if (w->state == W_FREE || w->state == W_RETIRING)
        return;
    close_ready(w);
    w->state = W_RETIRING;
    w->kill_at = mono() + S->cfg.server.graceful_timeout + 2;
    kill(w->pid, SIGTERM);
}

static void schedule_respawn(struct sup *S, int young)
{
    double now = mono();
    if (!young) {
        S->quick_deaths = 0;
        S->respawn_at = now;
        return;
    }
    double delay = 0;
    if (S->quick_deaths > 0) {
        delay = 0.1;
        for (int k = 1; k < S->quick_deaths && delay < BACKOFF_MAX; k++)
            delay *= 2;
        if (delay > BACKOFF_MAX)
            delay = BACKOFF_MAX;
    }
    S->quick_deaths++;
    S->respawn_at = now + delay;
    if (delay > 0)
        log_msg(STRATA_LOG_WARN, "workers are crashing quickly: next worker in %.1f s", delay);
}

/* A worker that did not get to "ready". */
static void start_failed(struct sup *S, int i, const char *why)
{
    struct wslot *w = &S->w[i];
    close_ready(w);
    if (S->pending && w->generation == S->pending) {
        /* the whole reload fails in check_pending() */
        log_msg(STRATA_LOG_ERROR, "worker %d (pid %d)%s %s", i, (int)w->pid,
                S->generation ? " of the new generation" : "", why);
        S->pending_failed++;
        w->state = W_RETIRING;
        w->quiet = 1;
        w->kill_at = mono() + 5;
        return;
    }
    log_msg(STRATA_LOG_ERROR, "worker %d (pid %d) %s", i, (int)w->pid, why);
    if (w->replaces >= 0) {
        struct wslot *old = &S->w[w->replaces];
        if (old->replaced_by == i) {
            old->replaced_by = -1;
            old->retry_replace_at = mono() + 10;
        }
        w->replaces = -1;
    } else if (w->generation == S->generation && !S->stopping) {
        schedule_respawn(S, 1);
    }
    /* not counted any more; the exit is reaped quietly */
    w->state = W_RETIRING;
    w->quiet = 1;
    w->kill_at = mono() + 5;
}

static void describe_exit(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(out, len, "died of %s%s", signame(WTERMSIG(status)),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else
        snprintf(out, len, "exited with code %d", WEXITSTATUS(status));
}

static void reap(struct sup *S)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int i = 0;
        while (i < SB_WORKERS && !(S->w[i].state != W_FREE && S->w[i].pid == pid))
            i++;
        if (i == SB_WORKERS)
            continue;
        struct wslot *w = &S->w[i];
        char what[512] = "", how[64];
        scoreboard_crash_report(i, what, sizeof what);
        scoreboard_worker_clear(i);
        describe_exit(status, how, sizeof how);
        int was = w->state, clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (was == W_STARTING) {
            drain_ready(w);        /* what it said before dying */
            if (said_ready(w)) {   /* ready, then dead before we read it */
                was = W_RUNNING;
                w->ready_at = mono();
            }
        }
        close_ready(w);
        if (was == W_STARTING && !S->stopping) {
            char why[700];
            snprintf(why, sizeof why, "%s%s%s before it said ready", how,
                     what[0] ? " while serving " : "", what);
            start_failed(S, i, why);
        }
        w->state = W_FREE;
        for (int k = 0; k < SB_WORKERS; k++) {
            if (S->w[k].replaced_by == i)
                S->w[k].replaced_by = -1;
            if (S->w[k].replaces == i)
                S->w[k].replaces = -1;
        }
        if (was == W_RETIRING) {
            if (!clean && !w->killed && !w->quiet)
                log_msg(STRATA_LOG_WARN, "worker %d (pid %d) %s while draining%s%s", i,
                        (int)pid, how, what[0] ? " and serving " : "", what);
            continue;
        }
        if (S->stopping || was == W_STARTING)
            continue;
        if (clean) {               /* someone sent it SIGTERM: recycle it */
            log_msg(STRATA_LOG_INFO, "worker %d (pid %d) stopped; starting a new one", i,
                    (int)pid);
            if (w->generation == S->generation)
                schedule_respawn(S, 0);
            continue;
        }
        /* A serving worker died. */
        log_msg(STRATA_LOG_ERROR, "worker %d (pid %d) %s%s%s; starting a new one", i, (int)pid,
                how, what[0] ? " while serving " : "", what);
        if (w->generation == S->generation)
            schedule_respawn(S, mono() - w->ready_at < YOUNG);
    }
}

/* ---- generations ---- */

static void watch_set(struct sup *S, const char *list);

static int count_serving(struct sup *S)
{
    int n = 0;
    for (int i = 0; i < SB_WORKERS; i++) {
        struct wslot *w = &S->w[i];
        n += (w->state == W_STARTING || w->state == W_RUNNING) &&
             w->generation == S->generation && w->replaced_by < 0;
    }
    return n;
}

static int start_generation(struct sup *S, int count)
{
    int gen = ++S->last_generation;
    S->pending = gen;
    S->pending_failed = 0;
    S->pending_deadline = mono() + START_TIMEOUT;
    for (int i = 0; i < count; i++)
        if (spawn(S, gen) < 0)
            return -1;
    return 0;
}

static void abandon_pending(struct sup *S)
{
    for (int i = 0; i < SB_WORKERS; i++) {
        struct wslot *w = &S->w[i];
        if (w->state == W_FREE || w->generation != S->pending)
            continue;
        if (w->state == W_RUNNING) {   /* it may hold connections: drain it */
            retire(S, i);
            continue;
        }
        if (w->state == W_STARTING) {
            close_ready(w);
            w->state = W_RETIRING;
            w->killed = 1;
            kill(w->pid, SIGKILL);
        }
    }
    S->pending = 0;
}

/* 1 when the pending generation now serves, -1 when it failed, 0 while it
 * starts (or when none is pending). */
static int check_pending(struct sup *S, int first)
{
    if (!S->pending)
        return 0;
    int want = first ? S->cfg.server.workers : S->next_cfg.server.workers;
    int ready = 0, starting = 0;
    for (int i = 0; i < SB_WORKERS; i++) {
        struct wslot *w = &S->w[i];
        if (w->generation != S->pending)
            continue;
        ready += w->state == W_RUNNING;
        starting += w->state == W_STARTING;
    }
    int timed_out = mono() > S->pending_deadline;
    if (ready == want && !S->stopping) {
        int gen = S->pending;
        S->pending = 0;
        S->generation = gen;
        if (!first) {
            config_free(&S->cfg);
            S->cfg = S->next_cfg;
            memset(&S->next_cfg, 0, sizeof S->next_cfg);
        }
        const char *list = "";
        for (int i = 0; i < SB_WORKERS; i++) {
            struct wslot *w = &S->w[i];
            if (w->state == W_FREE)
                continue;
            if (w->generation == gen)
                list = w->ready_buf + 6;
            else
                retire(S, i);      /* older generations, a respawn in flight too */
        }
        S->quick_deaths = 0;
        S->respawn_at = 0;
        if (S->o->reload)
            watch_set(S, list);
        if (!first)
            log_msg(STRATA_LOG_INFO, "reloaded: generation %d serving", gen);
        return 1;
    }
    if (!S->pending_failed && !timed_out && !S->stopping && ready + starting == want)
        return 0;
    if (timed_out)
        log_msg(STRATA_LOG_ERROR, "the new workers did not say ready within %.0f s: killed",
                START_TIMEOUT);
    abandon_pending(S);
    if (first)
        return -1;
    config_free(&S->next_cfg);
    memset(&S->next_cfg, 0, sizeof S->next_cfg);
    if (!S->stopping) {
        log_msg(STRATA_LOG_ERROR, "reload failed: the new workers did not start (see above); "
                "the old workers keep serving");
        if (S->o->reload)
            watch_set(S, NULL);    /* reload again on the next edit */
    }
    return -1;
}

/* SIGHUP or --reload: check the config here (parsing only: plugins are
 * never loaded in the supervisor), then let a new generation load and
 * create everything; the old one serves until the new one is ready. */
static void reload(struct sup *S, const char *why)
{
    if (S->stopping)
        return;
    if (S->pending) {
        S->queued_reload = why;    /* once the one in progress is done */
        return;
    }
    log_msg(STRATA_LOG_INFO, "reloading (%s)", why);
    struct config c;
    char err[8192];
    if (config_load(&c, S->o->config, S->o->over, S->o->n_over, err, sizeof err)) {
        size_t n = strlen(err);
        while (n && err[n - 1] == '\n')
            err[--n] = '\0';
        log_msg(STRATA_LOG_ERROR, "reload failed: the old workers keep serving:\n%s", err);
        config_free(&c);
        if (S->o->reload)
            watch_set(S, NULL);
        return;
    }
    if (strcmp(c.server.host, S->cfg.server.host) != 0 ||
        (c.server.port != S->cfg.server.port && S->cfg.server.port != 0))
        log_msg(STRATA_LOG_WARN, "[server:main] host and port changes need a restart: still "
                "listening on the socket opened at start");
    S->next_cfg = c;
    if (start_generation(S, c.server.workers))
        S->pending_failed++;
    check_pending(S, 0);
}

/* ---- --reload: the config, the plugins in use, the files plugins watch ---- */

static void watch_stat(struct watch_ent *e)
{
    struct stat st;
    if (stat(e->path, &st) == 0) {
        e->mtime = st.st_mtim;
        e->size = st.st_size;
        e->ino = st.st_ino;
        e->dev = st.st_dev;
    } else {
        memset(&e->mtime, 0, sizeof e->mtime);
        e->size = -1;
        e->ino = 0;
        e->dev = 0;
    }
}

/* A new list of files (NULL: the same files), stat'ed now. */
static void watch_set(struct sup *S, const char *list)
{
    if (list) {
        S->n_watch = 0;
        snprintf(S->watch[S->n_watch++].path, PATH_MAX, "%s", S->o->config);
        for (const char *p = list; *p && S->n_watch < MAX_WATCH;) {
            size_t n = strcspn(p, "\n");
            if (n > 0 && n < PATH_MAX) {
                int dup = 0;
                for (int k = 0; k < S->n_watch && !dup; k++)
                    dup = strncmp(S->watch[k].path, p, n) == 0 && S->watch[k].path[n] == '\0';
                if (!dup) {
                    memcpy(S->watch[S->n_watch].path, p, n);
                    S->watch[S->n_watch++].path[n] = '\0';
                }
            }
            p += n + (p[n] == '\n');
        }
    }
    for (int i = 0; i < S->n_watch; i++)
        watch_stat(&S->watch[i]);
    S->change_seen = 0;
}

/* The first watched file that changed since the last look, or NULL. */
static const char *watch_changed(struct sup *S)
{
    const char *first = NULL;
    for (int i = 0; i < S->n_watch; i++) {
        struct watch_ent *e = &S->watch[i], old = *e;
        watch_stat(e);
        if (old.mtime.tv_sec != e->mtime.tv_sec || old.mtime.tv_nsec != e->mtime.tv_nsec ||
            old.size != e->size || old.ino != e->ino || old.dev != e->dev)
            if (!first)
                first = e->path;
    }
    return first;
}

/* Poll the files; reload once they stopped changing for 0.3 s (an editor
 * or a linker writes in several steps). */
static void watch_tick(struct sup *S)
{
    const char *c = watch_changed(S);
    double now = mono();
    if (c) {
        if (!S->change_seen)
            snprintf(S->changed, sizeof S->changed, "%s", c);
        S->change_seen = now;
    } else if (S->change_seen && now - S->change_seen > 0.3 && !S->pending) {
        static char why[PATH_MAX + 16];
        snprintf(why, sizeof why, "changed: %s", S->changed);
        S->change_seen = 0;
        reload(S, why);
    }
}

/* ---- the watchdog, max_requests, deadlines, the worker count ---- */

static void replace(struct sup *S, int i, const char *why)
{
    struct wslot *w = &S->w[i];
    if (w->replaced_by >= 0 || mono() < w->retry_replace_at || S->pending)
        return;
    int k = spawn(S, S->generation);
    if (k < 0) {
        w->retry_replace_at = mono() + 10;
        return;
    }
    log_msg(STRATA_LOG_WARN, "worker %d (pid %d): %s; replacing it with worker %d (pid %d)", i,
            (int)w->pid, why, k, (int)S->w[k].pid);
    w->replaced_by = k;
    S->w[k].replaces = i;
}

static void housekeeping(struct sup *S)
{
    double now = mono();
    const struct server_cfg *c = &S->cfg.server;
    for (int i = 0; i < SB_WORKERS; i++) {
        struct wslot *w = &S->w[i];
        if (w->state == W_STARTING && now - w->spawned > START_TIMEOUT &&
            w->generation != S->pending) {
            log_msg(STRATA_LOG_ERROR, "worker %d (pid %d) did not say ready within %.0f s: "
                    "killed", i, (int)w->pid, START_TIMEOUT);
            kill(w->pid, SIGKILL);
            start_failed(S, i, "was killed");
            w->killed = 1;
        }
        if (w->state == W_RETIRING && now > w->kill_at && !w->killed) {
            log_msg(STRATA_LOG_WARN, "worker %d (pid %d) still running %.0f s after it was "
                    "asked to stop: killed", i, (int)w->pid,
                    c->graceful_timeout + 2);
            kill(w->pid, SIGKILL);
            w->killed = 1;
        }
        if (w->state != W_RUNNING || w->generation != S->generation || S->stopping)
            continue;
        char what[512] = "";
        double age = scoreboard_oldest(i, what, sizeof what);
        if (c->hung_restart_after > 0 && age > c->hung_restart_after) {
            char why[700];
            snprintf(why, sizeof why, "request %s stuck for %.1f s (hung_restart_after = %g)",
                     what, age, c->hung_restart_after);
            replace(S, i, why);
        } else if (c->max_requests > 0 &&
                   scoreboard_requests(i) >= (uint64_t)c->max_requests) {
            replace(S, i, "reached max_requests");
        }
    }
}

/* Keep `workers` workers of the serving generation. */
static void reconcile(struct sup *S)
{
    if (S->stopping || !S->generation || mono() < S->respawn_at)
        return;
    for (int n = count_serving(S); n < S->cfg.server.workers; n++)
        if (spawn(S, S->generation) < 0) {
            S->respawn_at = mono() + 1;
            break;
        }
}

/* ---- --daemon, --pid-file, the error log ---- */

/* Detach: double fork and a new session. The launcher waits on a pipe
 * and exits 0 once the server listens (1 if it could not start), so
 * scripts and systemd's Type=forking see a started server. When stderr
 * is a terminal, what the server prints while starting goes through the
 * pipe to the launcher's terminal and is dropped afterwards; a file or a
 * pipe on stderr is kept as the error log. */
static int daemon_start(struct sup *S)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC)) {
        fprintf(stderr, "strata: --daemon: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "strata: --daemon: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0) {                 /* the launcher */
        close(p[1]);
        char buf[4096];
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) != 0) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            char *z = memchr(buf, '\0', (size_t)n);
            ssize_t w = write(STDERR_FILENO, buf, z ? (size_t)(z - buf) : (size_t)n);
            (void)w;
            if (z)
                _exit(z + 1 < buf + n && z[1] == '0' ? 0 : 1);
        }
        _exit(1);
    }
    close(p[0]);
    setsid();
    pid = fork();
    if (pid < 0)
        _exit(1);
    if (pid > 0)
        _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        if (isatty(STDERR_FILENO)) {
            dup2(p[1], STDERR_FILENO);
            S->notify_tty = 1;
        }
        if (null > 2)
            close(null);
    }
    S->notify_fd = p[1];
    return 0;
}

static void daemon_ready(struct sup *S, int ok)
{
    if (S->notify_fd < 0)
        return;
    ssize_t w = write(S->notify_fd, ok ? "\0" "0" : "\0" "1", 2);
    (void)w;
    if (S->notify_tty) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDERR_FILENO);
            close(null);
        }
    }
    close(S->notify_fd);
    S->notify_fd = -1;
}

static int write_pid_file(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) || rename(tmp, path)) {
        log_msg(STRATA_LOG_ERROR, "--pid-file: cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void remove_pid_file(const char *path)
{
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (!f)
        return;
    if (fscanf(f, "%d", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid == (int)getpid())      /* never another server's */
        unlink(path);
}

/* When stderr is a regular file, remember its path so SIGUSR1 can reopen
 * it after logrotate moved it (workers inherit the path). */
static void note_stderr(struct sup *S)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) || !S_ISREG(st.st_mode))
        return;
    ssize_t n = readlink("/proc/self/fd/2", S->stderr_path, sizeof S->stderr_path - 1);
    S->stderr_path[n > 0 && S->stderr_path[0] == '/' ? n : 0] = '\0';
}

/* ---- the loop ---- */

static void on_signal(struct sup *S, int sig)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        if (!S->stopping) {
            S->stopping = 1;
            S->stop_deadline = mono() + S->cfg.server.graceful_timeout + 5;
            log_msg(STRATA_LOG_INFO, "stopping (%s): finishing requests in flight "
                    "(graceful_timeout = %g s)", signame(sig), S->cfg.server.graceful_timeout);
            for (int i = 0; i < SB_WORKERS; i++)
                if (S->w[i].state != W_FREE)
                    kill(S->w[i].pid, SIGTERM);
        } else if (sig == SIGINT) {
            log_msg(STRATA_LOG_WARN, "second SIGINT: killing the workers");
            S->stop_deadline = 0;
        }
        break;
    case SIGHUP:
        reload(S, "SIGHUP");
        break;
    case SIGUSR1:
        log_msg(STRATA_LOG_INFO, "SIGUSR1: reopening log files");
        reopen_stderr(S->stderr_path);
        for (int i = 0; i < SB_WORKERS; i++)
            if (S->w[i].state != W_FREE)
                kill(S->w[i].pid, SIGUSR1);
        break;
    default:
        break;
    }
}

/* One turn: wait for a signal, a ready pipe or the next deadline. */
static void turn(struct sup *S)
{
    struct pollfd pf[1 + SB_WORKERS];
    int map[1 + SB_WORKERS], n = 0;
    pf[n].fd = S->sig_fd;
    pf[n].events = POLLIN;
    map[n++] = -1;
    for (int i = 0; i < SB_WORKERS; i++)
        if (S->w[i].state == W_STARTING && S->w[i].ready_fd >= 0) {
            pf[n].fd = S->w[i].ready_fd;
            pf[n].events = POLLIN;
            map[n++] = i;
        }
    int ms = 200;
    double now = mono();
    if (S->respawn_at > now && S->respawn_at - now < 0.2)
        ms = (int)((S->respawn_at - now) * 1000) + 1;
    if (poll(pf, (nfds_t)n, ms) < 0 && errno != EINTR)
        log_msg(STRATA_LOG_ERROR, "poll: %s", strerror(errno));
    for (int k = 1; k < n; k++)
        if (pf[k].revents && S->w[map[k]].state == W_STARTING)
            read_ready(S, map[k]);
    struct signalfd_siginfo si;
    while (read(S->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo != SIGCHLD)
            on_signal(S, (int)si.ssi_signo);
    reap(S);
}

static int any_alive(struct sup *S)
{
    for (int i = 0; i < SB_WORKERS; i++)
        if (S->w[i].state != W_FREE)
            return 1;
    return 0;
}

int supervisor_run(const struct serve_opts *o)
{
    struct sup *S = calloc(1, sizeof *S);
    S->o = o;
    S->listen_fd = S->sig_fd = S->notify_fd = S->orig_stderr = -1;
    for (int i = 0; i < SB_WORKERS; i++)
        S->w[i].ready_fd = -1;
    log_set_role("supervisor");
    char err[8192];
    int rc = 1;
    if (config_load(&S->cfg, o->config, o->over, o->n_over, err, sizeof err)) {
        fputs(err, stderr);
        goto out;
    }
    char host[256];
    int port;
    S->listen_fd = open_listener(&S->cfg, host, sizeof host, &port);
    if (S->listen_fd < 0)
        goto out;
    if (scoreboard_create()) {
        fprintf(stderr, "strata: cannot map the scoreboard: %s\n", strerror(errno));
        goto out;
    }
    if (*S->cfg.server.error_log) {
        /* error_log: the host's own log (and plugins' strata->log lines) go
         * to this file, for every process; SIGUSR1 reopens it (logrotate). */
        int fd = open(S->cfg.server.error_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            fprintf(stderr, "%s: [server:main] error_log: cannot open '%s': %s\n", o->config,
                    S->cfg.server.error_log, strerror(errno));
            goto out;
        }
        S->orig_stderr = o->daemon ? -1 : fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (o->daemon && daemon_start(S))
        goto out;
    note_stderr(S);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    S->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (S->sig_fd < 0) {
        fprintf(stderr, "strata: signalfd: %s\n", strerror(errno));
        goto out;
    }

    /* The first generation, as a reload would start it. */
    int started = start_generation(S, S->cfg.server.workers) == 0 ? 0 : -1;
    while (started == 0) {
        turn(S);
        started = check_pending(S, 1);
    }
    if (started < 0 || S->stopping) {
        if (!S->stopping)
            fprintf(stderr, "%s: the server did not start (see the messages above)\n",
                    o->config);
        while (any_alive(S)) {
            for (int i = 0; i < SB_WORKERS; i++)
                if (S->w[i].state != W_FREE)
                    kill(S->w[i].pid, SIGKILL);
            turn(S);
        }
        daemon_ready(S, 0);
        rc = S->stopping ? 0 : 1;
        goto out;
    }
    char shown[300];
    snprintf(shown, sizeof shown, strchr(host, ':') ? "[%s]" : "%s", host);
    log_msg(STRATA_LOG_INFO, "listening on %s://%s:%d (%d worker%s, %d threads each)",
            *S->cfg.server.tls_cert ? "https" : "http", shown, port, S->cfg.server.workers, S->cfg.server.workers > 1 ? "s" : "",
            S->cfg.server.threads);
    if (S->orig_stderr >= 0) {
        dprintf(S->orig_stderr, "strata: listening on %s://%s:%d; log in %s\n",
                *S->cfg.server.tls_cert ? "https" : "http", shown, port, S->cfg.server.error_log);
        close(S->orig_stderr);
        S->orig_stderr = -1;
    }
    int pid_ok = !o->pid_file || write_pid_file(o->pid_file) == 0;
    daemon_ready(S, pid_ok);
    if (!pid_ok)
        on_signal(S, SIGTERM);

    while (!S->stopping) {
        turn(S);
        check_pending(S, 0);
        if (!S->pending && S->queued_reload) {
            const char *why = S->queued_reload;
            S->queued_reload = NULL;
            reload(S, why);
        }
        housekeeping(S);
        reconcile(S);
        if (o->reload && !S->stopping)
            watch_tick(S);
    }
    check_pending(S, 0);           /* abandons a reload in progress */
    while (any_alive(S)) {
        if (mono() > S->stop_deadline) {
            for (int i = 0; i < SB_WORKERS; i++)
                if (S->w[i].state != W_FREE && !S->w[i].killed) {
                    log_msg(STRATA_LOG_WARN, "worker %d (pid %d) still running: killed", i,
                            (int)S->w[i].pid);
                    kill(S->w[i].pid, SIGKILL);
                    S->w[i].killed = 1;
                }
        }
        turn(S);
    }
    if (o->pid_file && pid_ok)
        remove_pid_file(o->pid_file);
    log_msg(STRATA_LOG_INFO, "stopped");
    rc = pid_ok ? 0 : 1;
out:
    if (S->listen_fd >= 0)
        close(S->listen_fd);
    if (S->sig_fd >= 0)
        close(S->sig_fd);
    config_free(&S->cfg);
    config_free(&S->next_cfg);
    free(S);
    return rc;
}
