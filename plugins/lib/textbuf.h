/* textbuf.h — a growing text buffer for pages plugins render (malloc'd; the body
 * is handed to the host with STRATA_BODY_FREE). On allocation failure it
 * keeps what it has and sets `oom`; the caller answers 500. */
#ifndef STRATA_TEXTBUF_H
#define STRATA_TEXTBUF_H
#include <stddef.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

void sb_put(sbuf *b, const char *s, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Escapers: text for HTML (&<>"'), a JSON string body (no quotes added),
 * a Prometheus label value (\\ \" \n). HTML and JSON turn invalid UTF-8
 * into U+FFFD. */
void sb_html(sbuf *b, const char *s);
void sb_json(sbuf *b, const char *s);
void sb_label(sbuf *b, const char *s);
/* Takes the text (NUL-terminated) out; the buffer is empty afterwards. */
char *sb_take(sbuf *b, size_t *len);
void sb_free(sbuf *b);
#endif
