/* buf.c — see buf.h. */
#include "textbuf.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_grow(sbuf *b, size_t need)
{
    if (b->oom)
        return -1;
    if (b->len + need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + need + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(sbuf *b, const char *s, size_t n)
{
    if (sb_grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sb_put(b, small, (size_t)n);
        return;
    }
    if (sb_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static int utf8_len(const unsigned char *s);

void sb_html(sbuf *b, const char *s)
{
    while (s && *s) {
        int n = 1;
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default:
            n = utf8_len((const unsigned char *)s);
            if (n == 0) {
                sb_puts(b, "\xef\xbf\xbd");     /* U+FFFD for invalid UTF-8 */
                n = 1;
            } else {
                sb_put(b, s, (size_t)n);
            }
        }
        s += n;
    }
}

/* Length of a valid UTF-8 sequence at s, 0 when invalid. */
static int utf8_len(const unsigned char *s)
{
    int n;
    uint32_t c;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xe0) == 0xc0)
        n = 2, c = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, c = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, c = s[0] & 0x07;
    else
        return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return n;
}

void sb_json(sbuf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (u && *u) {
        if (*u == '"' || *u == '\\') {
            char e[2] = { '\\', (char)*u };
            sb_put(b, e, 2);
            u++;
        } else if (*u < 0x20 || *u == 0x7f) {
            sb_printf(b, "\\u%04x", *u);
            u++;
        } else {
            int n = utf8_len(u);
            if (n == 0) {
                sb_puts(b, "\\ufffd");
                u++;
            } else {
                sb_put(b, (const char *)u, (size_t)n);
                u += n;
            }
        }
    }
}

void sb_label(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            sb_puts(b, "\\\\");
        else if (*s == '"')
            sb_puts(b, "\\\"");
        else if (*s == '\n')
            sb_puts(b, "\\n");
        else
            sb_put(b, s, 1);
    }
}

char *sb_take(sbuf *b, size_t *len)
{
    if (!b->p)
        sb_put(b, "", 0);
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sb_free(sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
