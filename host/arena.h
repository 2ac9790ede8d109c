/* arena.h — bump allocation for one request; freed all at once. */
#ifndef STRATA_ARENA_H
#define STRATA_ARENA_H
#include <stddef.h>

struct arena_chunk;

struct arena {
    char *cur, *end;              /* free space in the current chunk   */
    struct arena_chunk *chunks;   /* extra chunks, malloc'd            */
};

void arena_init(struct arena *a, void *buf, size_t size);
void *arena_alloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_vsprintf(struct arena *a, const char *fmt, __builtin_va_list ap);
/* Frees the extra chunks; the first buffer is the caller's. */
void arena_release(struct arena *a);
#endif
