/* httputil.h — small HTTP helpers several plugins compile in. */
#ifndef STRATA_HTTPUTIL_H
#define STRATA_HTTPUTIL_H
#include "strata.h"

/* Does the comma-separated header value `v` hold `tok` (case-insensitive)?
 * A lone "*" counts as holding every token. */
int http_has_token(const char *v, const char *tok);
/* Add `tok` to the response's Vary unless it is there already (or "*"). */
int http_vary_add(const strata_host *h, strata_request *req, const char *tok);
#endif
