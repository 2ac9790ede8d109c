/*
 * errorpage — custom pages for error statuses.
 *
 *   [filter:errors]
 *   use = errorpage
 *   pages = 404=errors/404.html 5xx=errors/5xx.html
 *   dir = errors                  ; or: every NNN.html / 4xx.html / 5xx.html in a folder
 *
 * After the downstream answered with a status that has a page, the body is
 * replaced by that page; the status and the other headers stay (a 401 keeps
 * its WWW-Authenticate, a 405 its Allow), Content-Type becomes
 * `content_type`, and headers describing the old body (Content-Encoding,
 * ETag, Last-Modified, Content-Disposition) go. The pages are read once at
 * create, so a request costs no I/O: the filter is non-blocking.
 *
 * Lookup for status S, the exact status before its class: `pages` S,
 * `dir` S.html, `pages` Sxx, `dir` Sxx.html. Statuses 400-599 only.
 */
#include "strata.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

STRATA_HOST_DECLARE;

#define PAGE_MAX_SIZE (1 << 20)

/* ---- configuration ------------------------------------------------------ */

typedef struct errorpage_conf {
    strata_list pages;
    const char *dir;
    const char *content_type;
} errorpage_conf;

typedef struct page {
    char *data;
    size_t len;
} page;

typedef struct errorpage_inst {
    page by_status[200];      /* 400..599                                */
    page by_class[2];         /* 4xx, 5xx                                */
    const char *content_type;
    int any;
} errorpage_inst;

static const strata_option errorpage_options[] = {
    {"pages", STRATA_OPT_LIST, NULL, 0, offsetof(errorpage_conf, pages),
     "status=file pairs (404=errors/404.html 5xx=errors/5xx.html), relative to the config file",
     NULL},
    {"dir", STRATA_OPT_PATH, NULL, 0, offsetof(errorpage_conf, dir),
     "a folder of pages named 404.html, 500.html, 4xx.html, 5xx.html", NULL},
    {"content_type", STRATA_OPT_STRING, "text/html; charset=utf-8", 0,
     offsetof(errorpage_conf, content_type), "Content-Type of the pages", NULL},
    STRATA_OPTIONS_END,
};

/* ---- create / destroy -------------------------------------------------- */

/* Read a whole (small) file. Returns 0, or an errno value; EFBIG if larger
 * than PAGE_MAX_SIZE, EISDIR for a non-regular file. */
static int slurp(const char *path, page *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    int err = 0;
    if (fstat(fd, &st) < 0)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = EISDIR;
    else if (st.st_size > PAGE_MAX_SIZE)
        err = EFBIG;
    char *buf = NULL;
    size_t got = 0;
    if (!err && !(buf = malloc((size_t)st.st_size + 1)))
        err = ENOMEM;
    while (!err && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = errno;
        else if (n == 0)
            break;      /* shrank meanwhile: keep what is there */
        else
            got += (size_t)n;
    }
    close(fd);
    if (err) {
        free(buf);
        return err;
    }
    buf[got] = '\0';
    free(out->data);
    out->data = buf;
    out->len = got;
    return 0;
}

static const char *slurp_error(int err, char *buf, size_t n)
{
    if (err == EFBIG)
        snprintf(buf, n, "larger than %d bytes", PAGE_MAX_SIZE);
    else if (err == EISDIR)
        snprintf(buf, n, "not a regular file");
    else
        snprintf(buf, n, "%s", strerror(err));
    return buf;
}

/* "404" -> page slot; "4xx"/"5xx" -> class slot; NULL when malformed. */
static page *slot_for(errorpage_inst *e, const char *key, size_t n)
{
    if (n != 3 || (key[0] != '4' && key[0] != '5'))
        return NULL;
    if ((key[1] == 'x' || key[1] == 'X') && (key[2] == 'x' || key[2] == 'X'))
        return &e->by_class[key[0] - '4'];
    if (!isdigit((unsigned char)key[1]) || !isdigit((unsigned char)key[2]))
        return NULL;
    return &e->by_status[(key[0] - '0') * 100 + (key[1] - '0') * 10 + (key[2] - '0') - 400];
}

static void errorpage_destroy(void *p)
{
    errorpage_inst *e = p;
    if (!e)
        return;
    for (size_t i = 0; i < 200; i++)
        free(e->by_status[i].data);
    free(e->by_class[0].data);
    free(e->by_class[1].data);
    free(e);
}

static int load_pages(errorpage_inst *e, const strata_section *sec, const strata_list *pages)
{
    const char *base = strata->config_dir(sec);
    for (size_t i = 0; i < pages->n; i++) {
        const char *item = pages->items[i];
        const char *eq = strchr(item, '=');
        page *slot = eq ? slot_for(e, item, (size_t)(eq - item)) : NULL;
        if (!slot || !eq[1]) {
            strata->config_error(sec, "pages",
                                 "expected STATUS=FILE with STATUS 400-599, 4xx or 5xx, got '%s'",
                                 item);
            return -1;
        }
        char path[PATH_MAX];
        int n = eq[1] == '/' || !base || !*base
                    ? snprintf(path, sizeof path, "%s", eq + 1)
                    : snprintf(path, sizeof path, "%s/%s", base, eq + 1);
        if (n < 0 || (size_t)n >= sizeof path) {
            strata->config_error(sec, "pages", "path too long: '%s'", eq + 1);
            return -1;
        }
        int err = slurp(path, slot);
        if (err) {
            char why[96];
            strata->config_error(sec, "pages", "cannot read '%s': %s", path,
                                 slurp_error(err, why, sizeof why));
            return -1;
        }
        strata->watch_file(sec, path);
        e->any = 1;
    }
    return 0;
}

/* Every NNN.html, 4xx.html and 5xx.html in dir, where `pages` did not
 * already give one. */
static int load_dir(errorpage_inst *e, const strata_section *sec, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        strata->config_error(sec, "dir", "cannot open folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        strata->config_error(sec, "dir", "'%s' is not a folder", dir);
        return -1;
    }
    char path[PATH_MAX];
    for (int s = 400; s < 602; s++) {
        page *slot = s < 600 ? &e->by_status[s - 400] : &e->by_class[s - 600];
        if (slot->data)
            continue;   /* `pages` named one */
        if (s < 600)
            snprintf(path, sizeof path, "%s/%d.html", dir, s);
        else
            snprintf(path, sizeof path, "%s/%cxx.html", dir, s == 600 ? '4' : '5');
        int err = slurp(path, slot);
        if (err == ENOENT)
            continue;
        if (err) {
            char why[96];
            strata->config_error(sec, "dir", "cannot read '%s': %s", path,
                                 slurp_error(err, why, sizeof why));
            return -1;
        }
        strata->watch_file(sec, path);
        e->any = 1;
    }
    return 0;
}

static int errorpage_create(const strata_section *sec, const void *config, void **out)
{
    const errorpage_conf *c = config;
    errorpage_inst *e = calloc(1, sizeof *e);
    if (!e)
        return STRATA_ERROR;
    e->content_type = c->content_type;
    if (load_pages(e, sec, &c->pages))
        goto fail;
    if (c->dir && *c->dir && load_dir(e, sec, c->dir))
        goto fail;
    if (!e->any) {
        strata->config_error(sec, c->dir && *c->dir ? "dir" : "pages",
                             c->dir && *c->dir
                                 ? "no page found (expected files like 404.html or 5xx.html)"
                                 : "no page configured: set 'pages' or 'dir'");
        goto fail;
    }
    *out = e;
    return STRATA_OK;
fail:
    errorpage_destroy(e);
    return STRATA_ERROR;
}

/* ---- the request -------------------------------------------------------- */

static const page *lookup(const errorpage_inst *e, int status)
{
    if (status < 400 || status > 599)
        return NULL;
    const page *p = &e->by_status[status - 400];
    if (p->data)
        return p;
    p = &e->by_class[status / 100 - 4];
    return p->data ? p : NULL;
}

static int errorpage_handle(void *inst, strata_request *req)
{
    const errorpage_inst *e = inst;
    int rc = strata->next(req);
    if (rc != STRATA_OK)
        return rc;
    const page *p = lookup(e, strata->status(req));
    if (!p)
        return STRATA_OK;
    static const char *const stale[] = {"Content-Encoding", "ETag", "Last-Modified",
                                        "Content-Disposition", "Content-Length"};
    for (size_t i = 0; i < sizeof stale / sizeof *stale; i++)
        strata->remove_header(req, stale[i]);
    if (strata->set_body(req, p->data, p->len, STRATA_BODY_STATIC) ||
        strata->set_header(req, "Content-Type", e->content_type))
        return STRATA_ERROR;
    return STRATA_OK;
}

/* ---- descriptor --------------------------------------------------------- */

STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER,
    .name = "errorpage",
    .version = "1.0",
    .summary = "custom pages for error statuses (404, 5xx, ...)",
    .kind = STRATA_FILTER,
    .flags = STRATA_NONBLOCKING,
    .host = &strata,
    .options = errorpage_options,
    .config_size = sizeof(errorpage_conf),
    .create = errorpage_create,
    .destroy = errorpage_destroy,
    .handle = errorpage_handle,
};
