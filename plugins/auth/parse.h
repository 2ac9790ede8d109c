/* parse.h — the parts of auth that read client input: the Authorization
 * header and the request path. Plain libc, no state: the fuzz target
 * (tests/fuzz/fuzz_auth_header.c) includes parse.c directly. */
#ifndef AUTH_PARSE_H
#define AUTH_PARSE_H
#include <stddef.h>

/* Longest "user:password" accepted, decoded; a longer one is malformed.
 * htpasswd itself stops at 255 bytes per user name and password. */
#define CRED_MAX 1024

enum cred_result {
    CRED_MALFORMED = -1,   /* "Basic" with a broken credential: 400      */
    CRED_NONE = 0,         /* another scheme, or nothing: 401 challenge  */
    CRED_OK = 1,
};

/* Parse an Authorization value ("Basic dXNlcjpwdw=="; the scheme is
 * case-insensitive). On CRED_OK, out[0..*len) holds the decoded
 * "user:password", *colon the index of the first ':', and out[*len] is
 * writable (out must hold CRED_MAX + 1 bytes). A credential with a control
 * character (NUL included), without a colon, or longer than CRED_MAX is
 * malformed, as is base64 outside RFC 4648's alphabet. */
int cred_parse_basic(const char *value, char *out, size_t *len, size_t *colon);

/* Join `mount` and `path`, drop empty and "." segments and resolve "..",
 * into out (cap bytes): "/a//b/./../c/" -> "/a/c". Returns the length, or
 * -1 when ".." climbs above "/" or the result does not fit. */
int path_normalize(const char *mount, const char *path, char *out, size_t cap);

/* Whether normalized `path` lies under normalized `prefix`: "/" covers
 * everything, "/a" covers "/a" and "/a/..." but not "/ab". */
int path_under(const char *path, const char *prefix);

/* Copy at most `max` bytes of s for a log line, escaping control bytes,
 * '"' and '\\' as \xHH; always NUL-terminates out (cap > 0). */
void log_escape(const char *s, size_t max, char *out, size_t cap);
#endif
