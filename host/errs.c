/* errs.c — see errs.h. Bounded: errors past the buffer are counted only. */
#include "errs.h"
#include <stdarg.h>
#include <stdio.h>

void errs_init(struct errs *e, char *buf, size_t cap, const char *file)
{
    e->buf = buf;
    e->len = 0;
    e->cap = cap;
    e->n = 0;
    e->file = file;
    if (cap)
        buf[0] = '\0';
}

static void put(struct errs *e, int n)
{
    if (n > 0)
        e->len = e->len + (size_t)n < e->cap ? e->len + (size_t)n : e->cap - 1;
}

void err_add(struct errs *e, const char *section, const char *key, const char *fmt, ...)
{
    e->n++;
    if (e->len + 2 >= e->cap)
        return;
    if (section && key)
        put(e, snprintf(e->buf + e->len, e->cap - e->len, "%s: [%s] %s: ", e->file, section, key));
    else if (section)
        put(e, snprintf(e->buf + e->len, e->cap - e->len, "%s: [%s] ", e->file, section));
    else
        put(e, snprintf(e->buf + e->len, e->cap - e->len, "%s: ", e->file));
    va_list ap;
    va_start(ap, fmt);
    put(e, vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap));
    va_end(ap);
    if (e->len + 1 < e->cap) {
        e->buf[e->len++] = '\n';
        e->buf[e->len] = '\0';
    }
}
