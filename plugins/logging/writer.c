/* writer.c — per-thread buffers, the writer thread and its sinks. */
#include "writer.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define IOV_BATCH 256           /* iovecs per writev (IOV_MAX is 1024)   */
#define SEND_BATCH 64            /* datagrams per sendmmsg                */
#define REPORT_EVERY_NS 1000000000LL

struct lw_chunk {
    struct lw_chunk *next;
    struct lw_tbuf *owner;
    size_t len, cap;
    char data[];
};

struct lw_writer {
    struct lw_config cfg;
    char *path;                    /* own copy                            */
    char *tag;

    pthread_mutex_t mu;            /* the writer's sleep and requests     */
    pthread_cond_t cv;             /* wakes the writer                    */
    pthread_cond_t done;           /* a flush finished                    */
    atomic_int wake;
    int stop, reopen;
    uint64_t flush_req, flush_done;

    pthread_mutex_t list_mu;       /* threads list: thread_init, drain    */
    struct lw_tbuf *threads;

    pthread_t thread;
    int started;

    /* the writer thread's alone once started */
    int fd;                        /* file or stdio; -1 for syslog down   */
    int own_fd;
    int pipe_mode;
    int reopen_failed;
    int pid;

    /* error reports, writer thread only */
    int err_pending;
    int err_errno;
    const char *err_what;
    uint64_t err_lines;
    int64_t last_report_ns;
    uint64_t sink_lost;            /* lines the sink failed to take       */

    atomic_ullong written, lost, stalled;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec deadline_ts(int64_t at_ns)
{
    struct timespec ts = {(time_t)(at_ns / 1000000000), (long)(at_ns % 1000000000)};
    return ts;
}

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a))
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc ? -1 : 0;
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
        k++;
    return k;
}

/* ---- facility names ---- */

int lw_facility(const char *name)
{
    static const struct { const char *n; int v; } tab[] = {
        {"kern", LOG_KERN}, {"user", LOG_USER}, {"mail", LOG_MAIL}, {"daemon", LOG_DAEMON},
        {"auth", LOG_AUTH}, {"syslog", LOG_SYSLOG}, {"lpr", LOG_LPR}, {"news", LOG_NEWS},
        {"uucp", LOG_UUCP}, {"cron", LOG_CRON}, {"authpriv", LOG_AUTHPRIV}, {"ftp", LOG_FTP},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].n, name) == 0)
            return tab[i].v;
    return -1;
}

/* ---- errors: at most one report a second ---- */

static void report(struct lw_writer *w, int force)
{
    uint64_t stalled = atomic_exchange(&w->stalled, 0);
    if (stalled && w->cfg.host && w->cfg.host->log)
        w->cfg.host->log(w->cfg.sec, STRATA_LOG_ERROR,
                         "the log writer fell behind: %llu lines dropped after waiting %lld ms",
                         (unsigned long long)stalled, (long long)(w->cfg.stall_ns / 1000000));
    if (!w->err_pending)
        return;
    int64_t now = mono_ns();
    if (!force && now - w->last_report_ns < REPORT_EVERY_NS)
        return;
    if (w->cfg.host && w->cfg.host->log) {
        char eb[128];
        const char *es = strerror_r(w->err_errno, eb, sizeof eb);
        const char *target = w->cfg.sink == LW_STDOUT   ? "stdout"
                             : w->cfg.sink == LW_STDERR ? "stderr"
                                                        : w->path;
        if (w->err_lines)
            w->cfg.host->log(w->cfg.sec, STRATA_LOG_ERROR, "%s '%s': %s; %llu lines lost",
                             w->err_what, target, es, (unsigned long long)w->err_lines);
        else
            w->cfg.host->log(w->cfg.sec, STRATA_LOG_ERROR, "%s '%s': %s", w->err_what, target, es);
    }
    w->last_report_ns = now;
    w->err_pending = 0;
    w->err_lines = 0;
}

static void note_error(struct lw_writer *w, const char *what, int err, uint64_t lines)
{
    w->err_pending = 1;
    w->err_what = what;
    w->err_errno = err;
    w->err_lines += lines;
    w->sink_lost += lines;
    atomic_fetch_add(&w->lost, lines);
    report(w, 0);
}

/* ---- sinks ---- */

static int detect_pipe(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

static int connect_syslog(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Wait until fd is writable (a non-blocking stdout); 0 or -1 on timeout. */
static int wait_writable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int rc;
    while ((rc = poll(&p, 1, 5000)) < 0 && errno == EINTR)
        ;
    return rc > 0 ? 0 : -1;
}

/* writev until done; on failure count what was lost. */
static void write_iov(struct lw_writer *w, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = writev(w->fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(w->fd) == 0)
                continue;
            int e = errno == EAGAIN ? ETIMEDOUT : errno;
            uint64_t lines = 0;
            for (int i = 0; i < n; i++)
                lines += count_lines(iov[i].iov_base, iov[i].iov_len);
            note_error(w, "cannot write to", e, lines);
            return;
        }
        while (n > 0 && (size_t)k >= iov->iov_len) {
            k -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= (size_t)k;
        }
    }
}

static void write_all(struct lw_writer *w, const char *p, size_t len)
{
    struct iovec iov = {(void *)p, len};
    if (len)
        write_iov(w, &iov, 1);
}

/* Pipes: whole lines, at most PIPE_BUF bytes a write, so that writers in
 * other processes sharing the pipe can never split a line. */
static void write_pipe(struct lw_writer *w, struct lw_chunk *c)
{
    char stage[PIPE_BUF];
    size_t sl = 0;
    for (; c; c = c->next) {
        const char *p = c->data, *e = c->data + c->len;
        while (p < e) {
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(e - p);
            if (sl + len > sizeof stage) {
                write_all(w, stage, sl);
                sl = 0;
            }
            if (len > sizeof stage)
                write_all(w, p, len);
            else {
                memcpy(stage + sl, p, len);
                sl += len;
            }
            p += len;
        }
    }
    write_all(w, stage, sl);
}

static void write_file(struct lw_writer *w, struct lw_chunk *c)
{
    struct iovec iov[IOV_BATCH];
    while (c) {
        int n = 0;
        for (; c && n < IOV_BATCH; c = c->next)
            if (c->len)
                iov[n++] = (struct iovec){c->data, c->len};
        write_iov(w, iov, n);
    }
}

/* "<190>Nov 25 17:36:00 strata[1234]: " */
static size_t syslog_header(struct lw_writer *w, char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    char ts[32];
    if (!localtime_r(&now, &tm) || !strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm))
        strcpy(ts, "Jan  1 00:00:00");
    int n = snprintf(buf, size, "<%d>%s %s[%d]: ", w->cfg.facility | LOG_INFO, ts, w->tag,
                     w->pid);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void write_syslog(struct lw_writer *w, struct lw_chunk *c)
{
    char hdr[256];
    size_t hl = syslog_header(w, hdr, sizeof hdr);
    struct mmsghdr msg[SEND_BATCH];
    struct iovec iov[SEND_BATCH][2];
    int retried = 0;
    const char *p = c ? c->data : NULL;
    while (c) {
        int n = 0;
        /* gather up to SEND_BATCH lines, one datagram each, '\n' dropped */
        while (c && n < SEND_BATCH) {
            const char *e = c->data + c->len;
            if (p >= e) {
                c = c->next;
                p = c ? c->data : NULL;
                continue;
            }
            const char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(e - p);
            iov[n][0] = (struct iovec){hdr, hl};
            iov[n][1] = (struct iovec){(void *)p, len};
            memset(&msg[n], 0, sizeof msg[n]);
            msg[n].msg_hdr.msg_iov = iov[n];
            msg[n].msg_hdr.msg_iovlen = 2;
            n++;
            p += len + (nl != NULL);
        }
        int off = 0;
        while (off < n) {
            int k = w->fd >= 0 ? sendmmsg(w->fd, msg + off, (unsigned)(n - off), 0) : -1;
            if (k > 0) {
                off += k;
                continue;
            }
            int e = w->fd >= 0 ? errno : ENOTCONN;
            if (e == EINTR)
                continue;
            if (!retried && (e == ECONNREFUSED || e == ENOTCONN || e == ENOENT)) {
                /* the syslog daemon restarted: reconnect once per batch */
                retried = 1;
                if (w->fd >= 0)
                    close(w->fd);
                w->fd = connect_syslog(w->path);
                if (w->fd >= 0)
                    continue;
                e = errno;
            }
            uint64_t lost = (uint64_t)(n - off);
            /* and the lines not yet gathered */
            for (struct lw_chunk *q = c; q; q = q->next) {
                const char *s = q == c ? p : q->data;
                lost += count_lines(s, (size_t)(q->data + q->len - s));
            }
            note_error(w, "cannot send to syslog at", e, lost);
            return;
        }
    }
}

static void sink_write(struct lw_writer *w, struct lw_chunk *head)
{
    uint64_t lines = 0;
    for (struct lw_chunk *c = head; c; c = c->next)
        lines += count_lines(c->data, c->len);
    uint64_t lost_before = w->sink_lost;
    if (w->cfg.sink == LW_SYSLOG)
        write_syslog(w, head);
    else if (w->pipe_mode)
        write_pipe(w, head);
    else
        write_file(w, head);
    uint64_t lost = w->sink_lost - lost_before;
    atomic_fetch_add(&w->written, lines - (lost < lines ? lost : lines));
}

static void sink_reopen(struct lw_writer *w)
{
    if (w->cfg.sink == LW_FILE) {
        int fd = open_file(w->path);
        if (fd < 0) {
            w->reopen_failed = 1;
            note_error(w, "cannot reopen", errno, 0);
            return;
        }
        close(w->fd);
        w->fd = fd;
        w->pipe_mode = detect_pipe(fd);
    } else if (w->cfg.sink == LW_SYSLOG) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd = connect_syslog(w->path);
        if (w->fd < 0) {
            w->reopen_failed = 1;
            note_error(w, "cannot connect to syslog at", errno, 0);
            return;
        }
    }
    w->reopen_failed = 0;
}

/* ---- chunks ---- */

static struct lw_chunk *chunk_new(struct lw_tbuf *t, size_t cap)
{
    struct lw_chunk *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->owner = t;
    c->len = 0;
    c->cap = cap;
    t->n_chunks++;
    return c;
}

/* Back to the owner (under its lock): chunks of the usual size are kept
 * for reuse, a big one made for one long line is freed. */
static void chunk_return(struct lw_tbuf *t, struct lw_chunk *c, size_t usual)
{
    if (c->cap > usual) {
        free(c);
        t->n_chunks--;
        return;
    }
    c->len = 0;
    c->next = t->spare;
    t->spare = c;
}

static void free_tbuf(struct lw_tbuf *t)
{
    struct lw_chunk *lists[2] = {t->spare, t->full};
    for (int i = 0; i < 2; i++)
        for (struct lw_chunk *c = lists[i], *n; c; c = n) {
            n = c->next;
            free(c);
        }
    free(t->cur);
    lbuf_free(&t->line);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->space);
    free(t);
}

struct lw_tbuf *lw_thread(struct lw_writer *w)
{
    struct lw_tbuf *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (pthread_mutex_init(&t->mu, NULL)) {
        free(t);
        return NULL;
    }
    if (cond_init_mono(&t->space)) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    t->w = w;
    t->full_tail = &t->full;
    lf_clock_init(&t->clock);
    lf_clock_init(&t->clock_end);
    t->pid = (int)getpid();
    t->tid = (int)gettid();
    pthread_mutex_lock(&w->list_mu);
    t->next = w->threads;
    w->threads = t;
    pthread_mutex_unlock(&w->list_mu);
    return t;
}

void lw_thread_retire(struct lw_tbuf *t)
{
    pthread_mutex_lock(&t->mu);
    t->retired = 1;
    pthread_mutex_unlock(&t->mu);
}

static void wake_writer(struct lw_writer *w)
{
    if (atomic_exchange(&w->wake, 1))
        return;   /* already woken, not yet served */
    pthread_mutex_lock(&w->mu);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int lw_append(struct lw_tbuf *t, const char *data, size_t len)
{
    struct lw_writer *w = t->w;
    size_t usual = w->cfg.chunk_size;
    pthread_mutex_lock(&t->mu);
    struct lw_chunk *c = t->cur;
    if (c && c->cap - c->len >= len) {   /* the hot path */
        memcpy(c->data + c->len, data, len);
        c->len += len;
        pthread_mutex_unlock(&t->mu);
        return 0;
    }
    int wake = 0;
    if (c) {
        t->cur = NULL;
        if (c->len) {   /* full: hand it to the writer */
            *t->full_tail = c;
            t->full_tail = &c->next;
            wake = 1;
        } else {
            chunk_return(t, c, usual);
        }
    }
    int64_t deadline = 0;
    for (;;) {
        if (len <= usual && t->spare) {
            c = t->spare;
            t->spare = c->next;
            c->next = NULL;
            break;
        }
        if ((t->n_chunks < w->cfg.max_chunks || len > usual) &&
            (c = chunk_new(t, len > usual ? len : usual)))
            break;
        /* the writer is max_chunks behind: wait for it, boundedly */
        if (wake) {
            pthread_mutex_unlock(&t->mu);
            wake_writer(w);
            pthread_mutex_lock(&t->mu);
            wake = 0;
            continue;
        }
        int64_t now = mono_ns();
        if (!deadline)
            deadline = now + w->cfg.stall_ns;
        if (now >= deadline) {
            pthread_mutex_unlock(&t->mu);
            atomic_fetch_add(&w->stalled, 1);
            atomic_fetch_add(&w->lost, count_lines(data, len));
            return -1;
        }
        struct timespec ts = deadline_ts(deadline);
        t->waiting++;
        pthread_cond_timedwait(&t->space, &t->mu, &ts);
        t->waiting--;
    }
    memcpy(c->data, data, len);
    c->len = len;
    t->cur = c;
    pthread_mutex_unlock(&t->mu);
    if (wake)
        wake_writer(w);
    return 0;
}

/* ---- the writer thread ---- */

/* Take every pending chunk from every thread, write them, give them back. */
static void drain(struct lw_writer *w)
{
    struct lw_chunk *head = NULL, **tail = &head;
    pthread_mutex_lock(&w->list_mu);
    for (struct lw_tbuf *t = w->threads; t; t = t->next) {
        pthread_mutex_lock(&t->mu);
        if (t->full) {
            *tail = t->full;
            tail = t->full_tail;
            t->full = NULL;
            t->full_tail = &t->full;
        }
        if (t->cur && t->cur->len) {
            *tail = t->cur;
            tail = &t->cur->next;
            t->cur = NULL;
        }
        pthread_mutex_unlock(&t->mu);
    }
    pthread_mutex_unlock(&w->list_mu);
    *tail = NULL;
    if (!head)
        return;

    sink_write(w, head);

    /* chunks of one thread are adjacent: one lock per run */
    size_t usual = w->cfg.chunk_size;
    for (struct lw_chunk *c = head; c;) {
        struct lw_tbuf *t = c->owner;
        pthread_mutex_lock(&t->mu);
        while (c && c->owner == t) {
            struct lw_chunk *n = c->next;
            chunk_return(t, c, usual);
            c = n;
        }
        if (t->waiting)
            pthread_cond_broadcast(&t->space);
        pthread_mutex_unlock(&t->mu);
    }

    /* free the buffers of threads that are gone, once empty */
    pthread_mutex_lock(&w->list_mu);
    for (struct lw_tbuf **pp = &w->threads; *pp;) {
        struct lw_tbuf *t = *pp;
        pthread_mutex_lock(&t->mu);
        int gone = t->retired && !t->full && !(t->cur && t->cur->len);
        pthread_mutex_unlock(&t->mu);
        if (gone) {
            *pp = t->next;
            free_tbuf(t);
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&w->list_mu);
}

static void *writer_main(void *arg)
{
    struct lw_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    int64_t next_flush = mono_ns() + w->cfg.flush_ns;
    for (;;) {
        while (!w->stop && !atomic_load(&w->wake) && !w->reopen &&
               w->flush_req == w->flush_done) {
            if (mono_ns() >= next_flush)
                break;
            struct timespec ts = deadline_ts(next_flush);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        atomic_store(&w->wake, 0);
        int stop = w->stop, reopen = w->reopen;
        uint64_t req = w->flush_req;
        w->reopen = 0;
        pthread_mutex_unlock(&w->mu);

        drain(w);   /* what was logged before a reopen goes to the old file */
        if (reopen || (w->reopen_failed && !stop))
            sink_reopen(w);
        report(w, stop);

        pthread_mutex_lock(&w->mu);
        w->flush_done = req;
        pthread_cond_broadcast(&w->done);
        if (stop)
            break;
        next_flush = mono_ns() + w->cfg.flush_ns;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- lifecycle ---- */

int lw_open(struct lw_writer **out, const struct lw_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct lw_writer *w = calloc(1, sizeof *w);
    if (!w)
        return snprintf(err, errlen, "out of memory"), -1;
    w->cfg = *cfg;
    w->fd = -1;
    w->pid = (int)getpid();
    w->path = cfg->path ? strdup(cfg->path) : NULL;
    w->tag = strdup(cfg->tag ? cfg->tag : "strata");
    if ((cfg->path && !w->path) || !w->tag) {
        snprintf(err, errlen, "out of memory");
        goto fail_alloc;
    }
    if (w->cfg.max_chunks < 2)
        w->cfg.max_chunks = 2;
    switch (cfg->sink) {
    case LW_FILE:
        w->fd = open_file(w->path);
        if (w->fd < 0) {
            snprintf(err, errlen, "cannot open '%s': %s", w->path, strerror(errno));
            goto fail_alloc;
        }
        w->own_fd = 1;
        break;
    case LW_STDOUT: w->fd = STDOUT_FILENO; break;
    case LW_STDERR: w->fd = STDERR_FILENO; break;
    case LW_SYSLOG:
        w->own_fd = 1;
        w->fd = connect_syslog(w->path);
        if (w->fd < 0) {
            /* the daemon may come later: keep serving, retry, report */
            w->reopen_failed = 1;
            note_error(w, "cannot connect to syslog at", errno, 0);
        }
        break;
    }
    if (cfg->sink != LW_SYSLOG)
        w->pipe_mode = detect_pipe(w->fd);

    if (pthread_mutex_init(&w->mu, NULL) || pthread_mutex_init(&w->list_mu, NULL) ||
        cond_init_mono(&w->cv) || cond_init_mono(&w->done)) {
        snprintf(err, errlen, "cannot initialise locks");
        goto fail_fd;
    }
    /* the writer takes no asynchronous signals: they stay the host's
     * business; faults still reach the host's crash handler */
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        snprintf(err, errlen, "cannot start the writer thread: %s", strerror(rc));
        goto fail_fd;
    }
    w->started = 1;
    *out = w;
    return 0;
fail_fd:
    if (w->own_fd && w->fd >= 0)
        close(w->fd);
fail_alloc:
    free(w->path);
    free(w->tag);
    free(w);
    return -1;
}

void lw_close(struct lw_writer *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    for (struct lw_tbuf *t = w->threads, *n; t; t = n) {
        n = t->next;
        free_tbuf(t);
    }
    if (w->own_fd && w->fd >= 0)
        close(w->fd);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->list_mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->done);
    free(w->path);
    free(w->tag);
    free(w);
}

int lw_flush(struct lw_writer *w, int64_t timeout_ns)
{
    int64_t deadline = mono_ns() + timeout_ns;
    struct timespec ts = deadline_ts(deadline);
    pthread_mutex_lock(&w->mu);
    uint64_t mine = ++w->flush_req;
    pthread_cond_signal(&w->cv);
    int rc = 0;
    while (w->flush_done < mine && rc == 0)
        rc = pthread_cond_timedwait(&w->done, &w->mu, &ts);
    int ok = w->flush_done >= mine;
    pthread_mutex_unlock(&w->mu);
    return ok ? 0 : -1;
}

void lw_reopen(struct lw_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->reopen = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

uint64_t lw_lines_written(struct lw_writer *w) { return atomic_load(&w->written); }
uint64_t lw_lines_lost(struct lw_writer *w) { return atomic_load(&w->lost); }
