/* supervisor.c — the master: owns the listening socket, never loads a
 * plugin, forks workers that inherit the socket, replaces the ones that
 * die, hang or reach max_requests, and reloads by starting a new
 * generation before draining the old one, so no request is refused. */
#include "supervisor.h"
#include "config.h"
#include "log.h"
#include "scoreboard.h"
#include "worker.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { W_FREE = 0, W_STARTING, W_RUNNING, W_RETIRING };

struct wslot {
    int state;
    pid_t pid;
    int generation;
    int ready_fd;                 /* read end while starting */
    char ready_buf[8192];
    size_t ready_len;
    double started, kill_at;
};

struct sup {
    const struct serve_opts *o;
    struct config cfg;
    int listen_fd;
    int generation;
    struct wslot w[SB_WORKERS];
    double backoff, last_crash;
    char watch_buf[8192];         /* newline-separated files for --reload */
    time_t watch_mtime[256];
    off_t watch_size[256];
    int n_watch;
    double change_seen;
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int spawn(struct sup *S, int generation)
{
    int idx = -1;
    for (int i = 0; i < SB_WORKERS && idx < 0; i++)
        if (S->w[i].state == W_FREE)
            idx = i;
    if (idx < 0) {
        log_msg(STRATA_LOG_ERROR, "no free worker slot (at most %d workers)", SB_WORKERS);
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        log_msg(STRATA_LOG_ERROR, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        sigset_t none;
        sigemptyset(&none);
        signal(SIGCHLD, SIG_DFL);
        struct worker_args a = {S->o->config, S->o->over, S->o->n_over, S->listen_fd, idx,
                                generation, p[1]};
        sigprocmask(SIG_SETMASK, &none, NULL);
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
    w->started = mono();
    return idx;
}

/* Read a starting worker's pipe; 1 when it said ready. */
static int poll_ready(struct sup *S, struct wslot *w)
{
    if (w->state != W_STARTING)
        return w->state == W_RUNNING;
    for (;;) {
        ssize_t n = read(w->ready_fd, w->ready_buf + w->ready_len,
                         sizeof w->ready_buf - 1 - w->ready_len);
        if (n > 0) {
            w->ready_len += (size_t)n;
            continue;
        }
        if (n == 0 || w->ready_len == sizeof w->ready_buf - 1) {   /* closed: all said */
            w->ready_buf[w->ready_len] = '\0';
            close(w->ready_fd);
            w->ready_fd = -1;
            if (strncmp(w->ready_buf, "ready\n", 6) == 0) {
                w->state = W_RUNNING;
                snprintf(S->watch_buf, sizeof S->watch_buf, "%s", w->ready_buf + 6);
                return 1;
            }
            return -1;
        }
        return 0;                  /* EAGAIN */
    }
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

static void retire(struct sup *S, int i, const char *why)
{
    struct wslot *w = &S->w[i];
    if (w->state == W_FREE || w->state == W_RETIRING)
        return;
    if (why)
        log_msg(STRATA_LOG_INFO, "worker %d (pid %d): %s; draining it", i, (int)w->pid, why);
    if (w->ready_fd >= 0)
        close(w->ready_fd);
    w->ready_fd = -1;
    w->state = W_RETIRING;
    w->kill_at = mono() + S->cfg.server.graceful_timeout + 2;
    kill(w->pid, SIGTERM);
}

/* Start a new generation and wait until it serves; then drain the old. */
static int start_generation(struct sup *S, int count, int first)
{
    int gen = ++S->generation;
    int idx[SB_WORKERS], n = 0;
    for (int i = 0; i < count; i++) {
        int k = spawn(S, gen);
        if (k >= 0)
            idx[n++] = k;
    }
    double deadline = mono() + 60;
    int ok = n == count;
    for (int i = 0; ok && i < n; i++) {
        int r;
        while ((r = poll_ready(S, &S->w[idx[i]])) == 0 && mono() < deadline) {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (r != 1)
            ok = 0;
    }
    if (!ok) {
        for (int i = 0; i < n; i++) {
            struct wslot *w = &S->w[idx[i]];
            kill(w->pid, SIGKILL);
            waitpid(w->pid, NULL, 0);
            if (w->ready_fd >= 0)
                close(w->ready_fd);
            scoreboard_worker_clear(idx[i]);
            w->state = W_FREE;
        }
        S->generation--;
        return -1;
    }
    if (!first)
        for (int i = 0; i < SB_WORKERS; i++)
            if (S->w[i].state == W_RUNNING && S->w[i].generation != gen)
                retire(S, i, NULL);
    return 0;
}

static void watch_snapshot(struct sup *S)
{
    char *save = NULL, buf[sizeof S->watch_buf + 1024];
    snprintf(buf, sizeof buf, "%s\n%s", S->o->config, S->watch_buf);
    S->n_watch = 0;
    for (char *p = strtok_r(buf, "\n", &save); p && S->n_watch < 256; p = strtok_r(NULL, "\n", &save)) {
        struct stat st;
        int ok = stat(p, &st) == 0;
        S->watch_mtime[S->n_watch] = ok ? st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 : 0;
        S->watch_size[S->n_watch] = ok ? st.st_size : -1;
        S->n_watch++;
    }
}

static int watch_changed(struct sup *S)
{
    time_t old_m[256];
    off_t old_s[256];
    int n = S->n_watch;
    memcpy(old_m, S->watch_mtime, sizeof old_m);
    memcpy(old_s, S->watch_size, sizeof old_s);
    watch_snapshot(S);
    if (n != S->n_watch)
        return 1;
    for (int i = 0; i < n; i++)
        if (old_m[i] != S->watch_mtime[i] || old_s[i] != S->watch_size[i])
            return 1;
    return 0;
}

static void reload(struct sup *S, const char *why)
{
    log_msg(STRATA_LOG_INFO, "reloading (%s)", why);
    struct config c;
    char err[8192];
    if (config_load(&c, S->o->config, S->o->over, S->o->n_over, err, sizeof err)) {
        log_msg(STRATA_LOG_ERROR, "reload failed, the old workers keep serving:\n%s", err);
        config_free(&c);
        return;
    }
    if (strcmp(c.server.host, S->cfg.server.host) != 0 ||
        (c.server.port != S->cfg.server.port && S->cfg.server.port != 0))
        log_msg(STRATA_LOG_WARN, "host/port changes need a restart; keeping the socket");
    int count = c.server.workers;
    config_free(&S->cfg);
    S->cfg = c;
    if (start_generation(S, count, 0))
        log_msg(STRATA_LOG_ERROR, "reload failed (the new workers did not start; see above), "
                "the old workers keep serving");
    else
        log_msg(STRATA_LOG_INFO, "reloaded: generation %d serving", S->generation);
    if (S->o->reload)
        watch_snapshot(S);
}

static void reap(struct sup *S, int stopping)
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
        int was = w->state;
        char what[256] = "";
        scoreboard_oldest(i, what, sizeof what);
        scoreboard_worker_clear(i);
        if (w->ready_fd >= 0)
            close(w->ready_fd);
        w->ready_fd = -1;
        w->state = W_FREE;
        if (was == W_RETIRING || stopping || was == W_STARTING)
            continue;
        if (WIFSIGNALED(status))
            log_msg(STRATA_LOG_ERROR, "worker %d (pid %d) died of %s%s%s; starting a new one", i,
                    (int)pid, signame(WTERMSIG(status)), what[0] ? " while serving " : "", what);
        else
            log_msg(STRATA_LOG_ERROR, "worker %d (pid %d) exited with code %d%s%s; starting a "
                    "new one", i, (int)pid, WEXITSTATUS(status), what[0] ? " while serving " : "",
                    what);
        double now = mono();
        S->backoff = now - S->last_crash < 2 ? (S->backoff ? S->backoff * 2 : 0.1) : 0;
        if (S->backoff > 10)
            S->backoff = 10;
        S->last_crash = now;
        if (S->backoff > 0) {
            log_msg(STRATA_LOG_WARN, "workers are crashing quickly: waiting %.1f s", S->backoff);
            struct timespec ts = {(time_t)S->backoff, (long)((S->backoff - (time_t)S->backoff) * 1e9)};
            nanosleep(&ts, NULL);
        }
        int k = spawn(S, w->generation);
        if (k >= 0)
            S->w[k].generation = S->generation;
    }
}

static void housekeeping(struct sup *S)
{
    double now = mono();
    const struct server_cfg *c = &S->cfg.server;
    for (int i = 0; i < SB_WORKERS; i++) {
        struct wslot *w = &S->w[i];
        if (w->state == W_STARTING && poll_ready(S, w) < 0)
            w->state = W_STARTING;       /* its exit is reaped as a crash */
        if (w->state == W_RETIRING && now > w->kill_at) {
            log_msg(STRATA_LOG_WARN, "worker %d (pid %d) still running after graceful_timeout: "
                    "killed", i, (int)w->pid);
            kill(w->pid, SIGKILL);
            w->kill_at = now + 3600;
        }
        if (w->state != W_RUNNING)
            continue;
        char what[256] = "";
        double age = scoreboard_oldest(i, what, sizeof what);
        if (c->hung_restart_after > 0 && age > c->hung_restart_after) {
            char why[400];
            snprintf(why, sizeof why, "request %s stuck for %.1f s (hung_restart_after = %g)",
                     what, age, c->hung_restart_after);
            if (spawn(S, S->generation) >= 0)
                retire(S, i, why);
            continue;
        }
        if (c->max_requests > 0 && scoreboard_requests(i) >= (uint64_t)c->max_requests) {
            if (spawn(S, S->generation) >= 0)
                retire(S, i, "reached max_requests");
        }
    }
}

static void daemonize(void)
{
    pid_t pid = fork();
    if (pid > 0)
        _exit(0);
    setsid();
    if ((pid = fork()) > 0)
        _exit(0);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

int supervisor_run(const struct serve_opts *o)
{
    struct sup *S = calloc(1, sizeof *S);
    S->o = o;
    S->listen_fd = -1;
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
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);

    if (start_generation(S, S->cfg.server.workers, 1)) {
        fprintf(stderr, "%s: the server did not start (see the messages above)\n", o->config);
        goto out;
    }
    if (strchr(host, ':'))
        log_msg(STRATA_LOG_INFO, "listening on %s://[%s]:%d (%d worker%s, %d threads each)",
                *S->cfg.server.tls_cert ? "https" : "http", host, port, S->cfg.server.workers, S->cfg.server.workers > 1 ? "s" : "",
                S->cfg.server.threads);
    else
        log_msg(STRATA_LOG_INFO, "listening on %s://%s:%d (%d worker%s, %d threads each)",
                *S->cfg.server.tls_cert ? "https" : "http", host,
                port, S->cfg.server.workers, S->cfg.server.workers > 1 ? "s" : "",
                S->cfg.server.threads);
    if (o->daemon)
        daemonize();
    if (o->pid_file) {
        FILE *f = fopen(o->pid_file, "w");
        if (!f)
            log_msg(STRATA_LOG_ERROR, "--pid-file: cannot write '%s': %s", o->pid_file,
                    strerror(errno));
        else {
            fprintf(f, "%d\n", (int)getpid());
            fclose(f);
        }
    }
    if (o->reload)
        watch_snapshot(S);

    int stop = 0;
    while (!stop) {
        struct timespec tick = {0, 200 * 1000000};
        int sig = sigtimedwait(&set, NULL, &tick);
        switch (sig) {
        case SIGCHLD:
            reap(S, 0);
            break;
        case SIGTERM:
        case SIGINT:
            stop = 1;
            break;
        case SIGHUP:
            reload(S, "SIGHUP");
            break;
        case SIGUSR1:
            for (int i = 0; i < SB_WORKERS; i++)
                if (S->w[i].state != W_FREE)
                    kill(S->w[i].pid, SIGUSR1);
            break;
        default:
            break;
        }
        reap(S, 0);
        housekeeping(S);
        if (o->reload && !stop) {
            if (watch_changed(S))
                S->change_seen = mono();
            else if (S->change_seen && mono() - S->change_seen > 0.3) {
                S->change_seen = 0;
                reload(S, "a watched file changed");
            }
        }
    }
    log_msg(STRATA_LOG_INFO, "stopping: finishing requests in flight (graceful_timeout = %g s)",
            S->cfg.server.graceful_timeout);
    for (int i = 0; i < SB_WORKERS; i++)
        if (S->w[i].state != W_FREE)
            kill(S->w[i].pid, SIGTERM);
    double until = mono() + S->cfg.server.graceful_timeout + 5;
    for (;;) {
        int alive = 0;
        reap(S, 1);
        for (int i = 0; i < SB_WORKERS; i++)
            alive += S->w[i].state != W_FREE;
        if (!alive)
            break;
        if (mono() > until) {
            for (int i = 0; i < SB_WORKERS; i++)
                if (S->w[i].state != W_FREE)
                    kill(S->w[i].pid, SIGKILL);
            until = mono() + 3600;
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (o->pid_file)
        unlink(o->pid_file);
    log_msg(STRATA_LOG_INFO, "stopped");
    rc = 0;
out:
    if (S->listen_fd > 0)
        close(S->listen_fd);
    config_free(&S->cfg);
    free(S);
    return rc;
}
