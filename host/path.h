/* path.h — the request path as plugins see it: decoded once, with dot
 * segments resolved and hostile forms refused. Apart from the server so
 * that it can be unit tested and fuzzed without libmicrohttpd. */
#ifndef STRATA_PATH_H
#define STRATA_PATH_H
#include "arena.h"

/* The path part of `uri` (up to '?' or '#'), percent-decoded and
 * normalised, in the arena; NULL means 400 Bad Request. Encoded '/' and
 * NUL are refused (as Apache's AllowEncodedSlashes Off); '//' merges;
 * '.' and '..' segments resolve, and '..' above the root is refused. */
char *path_clean(struct arena *a, const char *uri);
#endif
