/* format.h — access-log formats: compile once at load, render per request.
 *
 * A mod_log_config string ("%h %l %u %t \"%r\" %>s %b") is compiled into
 * an array of ops; rendering walks the array and appends to a growable
 * buffer. Values that come from the client are escaped as Apache does, so
 * a client can never forge or split a log line; the json format escapes
 * per RFC 8259 and always yields valid UTF-8. */
#ifndef LOGGING_FORMAT_H
#define LOGGING_FORMAT_H
#include "strata.h"
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A growable output buffer (malloc'd, reused across requests). */
struct lbuf {
    char *p;
    size_t len, cap;
    int oom;                   /* an allocation failed: line is cut     */
};

void lbuf_free(struct lbuf *b);
void lbuf_put(struct lbuf *b, const void *s, size_t n);
void lbuf_puts(struct lbuf *b, const char *s);
void lbuf_putc(struct lbuf *b, char c);
void lbuf_put_i64(struct lbuf *b, int64_t v);

/* Escapes, appended to b. */
void lf_escape_apache(struct lbuf *b, const char *s);  /* \" \\ \n \xhh */
void lf_escape_json(struct lbuf *b, const char *s);    /* RFC 8259     */

/* One compiled directive. */
struct lf_op {
    int kind;                  /* enum lf_kind (format.c)               */
    const char *arg;           /* literal text, or %{ARG} (NUL-ended)   */
    size_t arglen;
    char lit[16];              /* a literal of up to 16 bytes, padded   */
    int negate;                /* %!200,304{..}x                        */
    int end;                   /* %{end:...}t: the time it ended        */
    int n_status;              /* 0: no status condition                */
    short status[8];
};

struct lf_format {
    struct lf_op *ops;
    size_t n;
    char *text;                /* owns every arg                        */
};

/* Per-thread time cache: localtime_r takes glibc's tz lock, so it is run
 * once a second per thread, never per request. */
struct lf_clock {
    int64_t sec;               /* the second below describes; -1: none  */
    struct tm tm;
    long gmtoff;
    char clf[40];              /* [10/Oct/2000:13:55:36 -0700]          */
    size_t clf_len;
    char iso[32];              /* 2000-10-10T13:55:36                   */
    size_t iso_len;
    char zone[8];              /* -07:00                                */
};

/* Everything the renderer needs beyond the request. */
struct lf_ctx {
    const strata_host *h;
    strata_request *req;
    int sent_ok;
    int64_t now_unix_us;       /* when the exchange ended               */
    int64_t duration_us;
    int pid, tid;
    struct lf_clock *clock;    /* for the request start time            */
    struct lf_clock *clock_end;/* for %{end:...}t                       */
};

/* Compile `spec` ("combined", "common", "json" or a format string).
 * On error returns -1 with a message in err ("unknown directive '%Z'"). */
int lf_compile(const char *spec, struct lf_format *out, char *err, size_t errlen);
void lf_free(struct lf_format *f);

/* Append one line, '\n' included. */
void lf_render(const struct lf_format *f, const struct lf_ctx *c, struct lbuf *out);

/* Bytes of body the client got: 0 for HEAD, 1xx, 204, 304 and aborted
 * exchanges; the response length otherwise. */
int64_t lf_bytes_sent(const strata_host *h, strata_request *req, int sent_ok);

void lf_clock_init(struct lf_clock *c);
#endif
