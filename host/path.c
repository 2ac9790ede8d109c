/* path.c — see path.h. */
#include "path.h"
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *path_clean(struct arena *a, const char *uri)
{
    size_t n = strcspn(uri, "?#");
    if (n == 0 || uri[0] != '/')
        return NULL;
    char *out = arena_alloc(a, n + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = uri[i];
        if (c == '%') {
            int h = i + 2 < n ? hexval((unsigned char)uri[i + 1]) : -1;
            int l = h >= 0 ? hexval((unsigned char)uri[i + 2]) : -1;
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            if (c == '\0' || c == '/')
                return NULL;
            i += 2;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    /* resolve segments in place; w never passes p. A path that ends in
     * '/', '.' or '..' names a folder and keeps its final '/'. */
    char *w = out;
    for (const char *p = out; *p;) {
        while (*p == '/')
            p++;
        if (!*p) {                       /* ended with '/' (or '//') */
            if (w == out || w[-1] != '/')
                *w++ = '/';
            break;
        }
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        int last = *p == '\0';
        if (len == 1 && seg[0] == '.') {
            if (last && (w == out || w[-1] != '/'))
                *w++ = '/';
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (w == out)
                return NULL;             /* above the root */
            while (w > out && *--w != '/')
                ;
            if (last)
                *w++ = '/';
            continue;
        }
        *w++ = '/';
        memmove(w, seg, len);
        w += len;
    }
    if (w == out)
        *w++ = '/';
    *w = '\0';
    return out;
}
