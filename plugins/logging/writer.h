/* writer.h — per-thread line buffers drained by one writer thread.
 *
 * Request threads append whole lines to their own buffer under their own
 * mutex, which only the writer ever contends for (once per batch): no
 * global lock and no system call per request. The writer wakes when a
 * buffer fills, on a flush request, or every `flush_ns`, takes every
 * thread's pending chunks and writes them with one writev() per batch.
 * Lines are appended whole and chunks are written whole, so lines never
 * interleave; on pipes (where several processes may share stdout) the
 * writer cuts its writes at line boundaries, at most PIPE_BUF bytes each,
 * which POSIX makes atomic. */
#ifndef LOGGING_WRITER_H
#define LOGGING_WRITER_H
#include "format.h"
#include "strata.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum lw_sink { LW_FILE = 1, LW_STDOUT, LW_STDERR, LW_SYSLOG };

struct lw_config {
    int sink;                      /* enum lw_sink                        */
    const char *path;              /* LW_FILE; LW_SYSLOG: the socket      */
    size_t chunk_size;             /* per-thread buffer                   */
    unsigned max_chunks;           /* per thread, before a producer waits */
    int64_t flush_ns;              /* longest a line waits in a buffer    */
    int64_t stall_ns;              /* longest a producer waits for room   */
    int facility;                  /* LW_SYSLOG: LOG_LOCAL7 etc.          */
    const char *tag;
    const strata_host *host;       /* for error reports (may be NULL)     */
    const strata_section *sec;
};

struct lw_writer;
struct lw_chunk;

/* Per-thread state: the buffer, plus the producer's own scratch. */
struct lw_tbuf {
    /* the producer's alone: no lock */
    struct lbuf line;
    struct lf_clock clock, clock_end;
    int pid, tid;

    /* shared with the writer, under mu */
    pthread_mutex_t mu;
    pthread_cond_t space;          /* the writer gave chunks back         */
    struct lw_chunk *cur;          /* being filled                        */
    struct lw_chunk *full;         /* filled, oldest first                */
    struct lw_chunk **full_tail;
    struct lw_chunk *spare;        /* written, ready for reuse            */
    unsigned n_chunks;             /* owned, wherever they are            */
    int waiting;
    int retired;

    struct lw_writer *w;
    struct lw_tbuf *next;          /* the writer's list (list_mu)         */
};

/* Open the sink and start the writer. -1 with a message in err. */
int lw_open(struct lw_writer **out, const struct lw_config *cfg, char *err, size_t errlen);
/* Write everything buffered, stop and join the writer, free it all. */
void lw_close(struct lw_writer *w);

/* A buffer for the calling thread (NULL when out of memory). */
struct lw_tbuf *lw_thread(struct lw_writer *w);
/* The thread is gone: the writer frees the buffer once drained. */
void lw_thread_retire(struct lw_tbuf *t);

/* Append whole lines. Waits for room only when the writer is behind by
 * max_chunks buffers, at most stall_ns; then the line is dropped, counted
 * and reported. Returns 0, or -1 when dropped. */
int lw_append(struct lw_tbuf *t, const char *data, size_t len);

/* Have everything appended so far written; waits at most timeout_ns.
 * Returns 0 when done, -1 on timeout. */
int lw_flush(struct lw_writer *w, int64_t timeout_ns);
/* Reopen the file (or reconnect syslog) in the writer thread, after
 * writing what was buffered to the old one. */
void lw_reopen(struct lw_writer *w);

/* Counters, for tests. */
uint64_t lw_lines_written(struct lw_writer *w);
uint64_t lw_lines_lost(struct lw_writer *w);

/* "local7" -> LOG_LOCAL7; -1 when unknown. */
int lw_facility(const char *name);
#endif
