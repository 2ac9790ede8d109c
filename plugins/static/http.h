/* http.h — the static plugin's parsers of client input and its little
 * HTTP helpers. Pure functions over strings: no host, no I/O, no
 * allocation, so the unit tests and the fuzz targets reach every one. */
#ifndef STATIC_HTTP_H
#define STATIC_HTTP_H
#include <stddef.h>
#include <stdint.h>

/* ---- request paths ---------------------------------------------------- */

enum {
    ST_PATH_OK = 0,
    ST_PATH_CLIMB = -1,    /* ".." above the root: 403                  */
    ST_PATH_HIDDEN = -2,   /* a dot-segment (".git") that is denied: 403 */
    ST_PATH_LONG = -3,     /* longer than the buffer or NAME_MAX: 404    */
};

/* Which dot-names may be served: all (`hidden = allow`), or only those
 * listed (".well-known" by default). */
typedef struct st_hidden {
    int allow_all;
    size_t n;
    const char *const *names;
} st_hidden;

/* Normalise a percent-decoded request path (below the mount) into a path
 * relative to the root: slashes merged, "." dropped, ".." applied, no
 * leading or trailing '/'; "" is the root itself. *is_dir is set when the
 * request names a directory (trailing '/', or a last "." or ".."). The
 * result never contains a ".." segment nor, unless allowed, a segment
 * starting with '.'. */
int st_path_normalize(const char *in, char *out, size_t outsz, int *is_dir,
                      const st_hidden *hidden);

/* 1 when the raw request-target (before '?') carries %00 or an encoded
 * '/' (%2F), which the host rejects too; checked again here because the
 * decoded path no longer shows them. */
int st_uri_has_forbidden_escape(const char *uri);

/* ---- Range (RFC 9110 §14) ---------------------------------------------- */

enum {
    ST_RANGE_NONE = 0,     /* absent, another unit or malformed: ignore  */
    ST_RANGE_ONE,          /* one satisfiable range: 206                 */
    ST_RANGE_UNSAT,        /* one range, none of it in the file: 416     */
    ST_RANGE_MULTI,        /* several ranges: answered 200, whole file   */
};
int st_range_parse(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

/* ---- conditional requests (RFC 9110 §13) ------------------------------- */

typedef struct st_cond {
    const char *if_match, *if_none_match;
    const char *if_modified_since, *if_unmodified_since;
    const char *range, *if_range;
    int is_get;            /* Range applies to GET only; HEAD sees 200   */
} st_cond;

typedef struct st_validators {
    const char *etag;      /* strong: "\"...\""                          */
    int64_t mtime;         /* seconds                                    */
    uint64_t size;
} st_validators;

typedef struct st_answer {
    int status;            /* 200, 206, 304, 412 or 416                  */
    uint64_t off, len;     /* the bytes to send for 200/206              */
} st_answer;

void st_evaluate(const st_cond *c, const st_validators *r, st_answer *a);

/* "*" or a list of entity-tags; weak or strong comparison. */
int st_etag_list_match(const char *list, const char *etag, int strong);

/* ---- dates ------------------------------------------------------------- */

/* IMF-fixdate, RFC 850 or asctime; -1 when invalid or before 1970. */
int64_t st_http_date_parse(const char *s);
/* IMF-fixdate into buf (at least 30 bytes). */
void st_http_date_format(int64_t t, char *buf);

/* ---- Accept-Encoding ---------------------------------------------------- */

/* 1 when `coding` is acceptable (q > 0, by name or through "*"). */
int st_accepts_encoding(const char *ae, const char *coding);

/* ---- escaping ------------------------------------------------------------ */

/* Percent-encode all but unreserved characters and '/'. Returns the length
 * written (NUL excluded); outsz must be at least 3 * strlen(in) + 1. */
size_t st_url_encode(const char *in, char *out, size_t outsz);
/* HTML-escape & < > " ' ; same size rule with 6 * strlen(in) + 1. */
size_t st_html_escape(const char *in, char *out, size_t outsz);
#endif
