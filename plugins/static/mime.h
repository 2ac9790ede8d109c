/* mime.h — file name extension to Content-Type. */
#ifndef STATIC_MIME_H
#define STATIC_MIME_H
#include <stddef.h>

struct st_mime_slot {
    char *ext;             /* lower case, NULL when the slot is free     */
    char *type;            /* the full header value, charset included    */
    int prio;              /* who set it: ST_MIME_BUILTIN < FILE < USER  */
};

enum { ST_MIME_BUILTIN = 1, ST_MIME_FILE = 2, ST_MIME_USER = 3 };

typedef struct st_mime {
    struct st_mime_slot *slots;
    size_t mask;           /* slots - 1, a power of two minus one        */
    size_t n;
    char *def;             /* for names without a known extension        */
} st_mime;

/* An empty table whose fallback type is `def` (copied, with the same
 * charset rule as the others). */
int st_mime_init(st_mime *m, const char *def);
/* The built-in table of common web types. */
int st_mime_add_builtin(st_mime *m);
/* Add "type ext ext..." lines of an /etc/mime.types file; returns the
 * number of extensions read, or -1 with errno when it cannot be opened.
 * The file's first mapping of an extension wins within the file and
 * replaces the built-in one (ST_MIME_FILE). */
int st_mime_load(st_mime *m, const char *path);
/* Add one mapping; it replaces an earlier one of lower `prio` only.
 * text types (and JavaScript) get "; charset=utf-8" unless they carry a
 * parameter already. Returns 0, or -1 when out of memory. */
int st_mime_add(st_mime *m, const char *ext, size_t extlen, const char *type, int prio);
/* The charset rule alone, into a malloc'd string. */
char *st_mime_full_type(const char *type);
/* The Content-Type for a file name (only its last extension counts). */
const char *st_mime_lookup(const st_mime *m, const char *name);
void st_mime_free(st_mime *m);
#endif
