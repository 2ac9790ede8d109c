/* arena.c — a request's memory: one inline buffer, more chunks on demand.
 * Requests rarely need more than the inline buffer, so the common case is
 * no allocation at all beyond the request itself. */
#include "arena.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    struct arena_chunk *next;
    max_align_t data[];
};

#define ALIGN 16u
#define CHUNK_MIN 8192u

void arena_init(struct arena *a, void *buf, size_t size)
{
    a->cur = buf;
    a->end = (char *)buf + size;
    a->chunks = NULL;
}

void *arena_alloc(struct arena *a, size_t size)
{
    uintptr_t p = ((uintptr_t)a->cur + (ALIGN - 1)) & ~(uintptr_t)(ALIGN - 1);
    if (a->cur && size <= (size_t)((uintptr_t)a->end - p) && p <= (uintptr_t)a->end) {
        a->cur = (char *)p + size;
        return (void *)p;
    }
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t want = size + ALIGN > CHUNK_MIN ? size + ALIGN : CHUNK_MIN;
    struct arena_chunk *c = malloc(sizeof *c + want);
    if (!c)
        return NULL;
    c->next = a->chunks;
    a->chunks = c;
    char *base = (char *)c->data;
    a->cur = base + size;
    a->end = base + want;
    return base;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vsprintf(struct arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *d = arena_alloc(a, (size_t)n + 1);
    if (d)
        vsnprintf(d, (size_t)n + 1, fmt, ap);
    return d;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->chunks;
    while (c) {
        struct arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->chunks = NULL;
    a->cur = a->end = NULL;
}
