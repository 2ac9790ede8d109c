/* mime.c — Content-Type by extension: a small open-addressing hash table
 * built once at create() and only read afterwards (no locks needed). */
#include "mime.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXT_MAX 32

/* The types a web site needs even without /etc/mime.types. */
static const char *const builtin[][2] = {
    {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"},
    {"js", "text/javascript"}, {"mjs", "text/javascript"}, {"json", "application/json"},
    {"map", "application/json"}, {"txt", "text/plain"}, {"md", "text/markdown"},
    {"csv", "text/csv"}, {"xml", "application/xml"}, {"svg", "image/svg+xml"},
    {"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
    {"gif", "image/gif"}, {"webp", "image/webp"}, {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"}, {"bmp", "image/bmp"}, {"woff", "font/woff"},
    {"woff2", "font/woff2"}, {"ttf", "font/ttf"}, {"otf", "font/otf"},
    {"wasm", "application/wasm"}, {"pdf", "application/pdf"}, {"zip", "application/zip"},
    {"gz", "application/gzip"}, {"tar", "application/x-tar"}, {"mp4", "video/mp4"},
    {"webm", "video/webm"}, {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"},
    {"wav", "audio/wav"}, {"bin", "application/octet-stream"},
    {"webmanifest", "application/manifest+json"},
};

static size_t hash_ext(const char *s, size_t n)
{
    size_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int st_mime_init(st_mime *m, const char *def)
{
    memset(m, 0, sizeof *m);
    m->mask = 255;
    m->slots = calloc(m->mask + 1, sizeof *m->slots);
    m->def = st_mime_full_type(def ? def : "application/octet-stream");
    return m->slots && m->def ? 0 : -1;
}

void st_mime_free(st_mime *m)
{
    free(m->def);
    m->def = NULL;
    if (!m->slots)
        return;
    for (size_t i = 0; i <= m->mask; i++) {
        free(m->slots[i].ext);
        free(m->slots[i].type);
    }
    free(m->slots);
    m->slots = NULL;
}

static struct st_mime_slot *find(const st_mime *m, const char *ext, size_t n)
{
    for (size_t i = hash_ext(ext, n) & m->mask;; i = (i + 1) & m->mask) {
        struct st_mime_slot *s = &m->slots[i];
        if (!s->ext || (strlen(s->ext) == n && memcmp(s->ext, ext, n) == 0))
            return s;
    }
}

static int grow(st_mime *m)
{
    struct st_mime_slot *old = m->slots;
    size_t oldn = m->mask + 1;
    st_mime big = *m;
    big.mask = oldn * 2 - 1;
    big.slots = calloc(big.mask + 1, sizeof *big.slots);
    if (!big.slots)
        return -1;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].ext)
            *find(&big, old[i].ext, strlen(old[i].ext)) = old[i];
    free(old);
    *m = big;
    return 0;
}

char *st_mime_full_type(const char *type)
{
    int text = strncmp(type, "text/", 5) == 0 || strcmp(type, "application/javascript") == 0;
    if (!text || strchr(type, ';')) {
        return strdup(type);
    }
    size_t n = strlen(type);
    char *s = malloc(n + sizeof "; charset=utf-8");
    if (s) {
        memcpy(s, type, n);
        memcpy(s + n, "; charset=utf-8", sizeof "; charset=utf-8");
    }
    return s;
}

int st_mime_add(st_mime *m, const char *ext, size_t n, const char *type, int prio)
{
    char low[EXT_MAX + 1];
    if (n == 0 || n > EXT_MAX)
        return 0;                   /* never looked up: ignore */
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)ext[i]);
    low[n] = '\0';
    if ((m->n + 1) * 4 > (m->mask + 1) * 3 && grow(m) < 0)
        return -1;
    struct st_mime_slot *s = find(m, low, n);
    if (s->ext && s->prio >= prio)
        return 0;
    char *t = st_mime_full_type(type);
    if (!t)
        return -1;
    if (!s->ext) {
        if (!(s->ext = strdup(low))) {
            free(t);
            return -1;
        }
        m->n++;
    }
    free(s->type);
    s->type = t;
    s->prio = prio;
    return 0;
}

int st_mime_add_builtin(st_mime *m)
{
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (st_mime_add(m, builtin[i][0], strlen(builtin[i][0]), builtin[i][1],
                        ST_MIME_BUILTIN) < 0)
            return -1;
    return 0;
}

int st_mime_load(st_mime *m, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int count = 0;
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL;
        char *type = strtok_r(line, " \t\r\n", &save);
        if (!type || type[0] == '#' || !strchr(type, '/'))
            continue;
        for (char *e = strtok_r(NULL, " \t\r\n", &save); e && e[0] != '#';
             e = strtok_r(NULL, " \t\r\n", &save)) {
            if (st_mime_add(m, e, strlen(e), type, ST_MIME_FILE) < 0) {
                free(line);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            count++;
        }
    }
    free(line);
    fclose(f);
    return count;
}

const char *st_mime_lookup(const st_mime *m, const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1])
        return m->def;
    size_t n = strlen(dot + 1);
    if (n > EXT_MAX)
        return m->def;
    char low[EXT_MAX];
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)dot[1 + i]);
    const struct st_mime_slot *s = find(m, low, n);
    return s->ext ? s->type : m->def;
}
