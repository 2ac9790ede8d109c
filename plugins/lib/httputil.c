/* httputil.c — see httputil.h. */
#include "httputil.h"
#include <string.h>
#include <strings.h>

int http_has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t l = strcspn(v, ",");
        size_t t = l;
        while (t && (v[t - 1] == ' ' || v[t - 1] == '\t'))
            t--;
        if ((t == n && strncasecmp(v, tok, n) == 0) || (t == 1 && *v == '*'))
            return 1;
        v += l;
    }
    return 0;
}

int http_vary_add(const strata_host *h, strata_request *req, const char *tok)
{
    const char *v = h->resp_header(req, "Vary");
    if (!v || !*v)
        return h->set_header(req, "Vary", tok);
    if (http_has_token(v, tok))
        return STRATA_OK;
    const char *nv = h->sprintf(req, "%s, %s", v, tok);
    return nv ? h->set_header(req, "Vary", nv) : STRATA_ERROR;
}
