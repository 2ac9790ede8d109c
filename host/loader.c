/* loader.c — open a plugin without running its code until the stamp says
 * it was built for this host: the descriptor is data, read with dlsym. */
#include "loader.h"
#include "options.h"
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *loader_builtin_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return strcpy(dir, ".");
    exe[n] = '\0';
    char *d = dirname(exe);
    struct stat st;
    snprintf(dir, sizeof dir, "%s/plugins", d);
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    snprintf(dir, sizeof dir, "%s/../lib/strata/plugins", d);
    return dir;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Calls cb(dir) for each folder of plugin_path then the built-in one. */
static int each_dir(const char *plugin_path, int (*cb)(void *, const char *), void *ctx)
{
    char buf[PATH_MAX];
    for (const char *p = plugin_path; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n && n < sizeof buf) {
            memcpy(buf, p, n);
            buf[n] = '\0';
            if (cb(ctx, buf))
                return 1;
        }
        p = colon ? colon + 1 : NULL;
    }
    return cb(ctx, loader_builtin_dir());
}

struct find_ctx {
    const char *name;
    char *found;
};

static int find_in(void *ctx, const char *dir)
{
    struct find_ctx *f = ctx;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.so", dir, f->name);
    if (is_file(path)) {
        f->found = strdup(path);
        return 1;
    }
    return 0;
}

/* Plugin names found on disk, for "did you mean". */
struct names {
    char **v;
    size_t n;
};

static void add_name(void *ctx, const char *path)
{
    struct names *nm = ctx;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len < 4)
        return;
    char **nv = realloc(nm->v, (nm->n + 1) * sizeof *nv);
    if (!nv)
        return;
    nm->v = nv;
    nm->v[nm->n++] = strndup(base, len - 3);
}

char *loader_find(const char *use, const char *plugin_path, const char *config_dir, char *err,
                  size_t errlen)
{
    if (strchr(use, '/')) {
        char path[PATH_MAX];
        if (use[0] == '/' || !config_dir)
            snprintf(path, sizeof path, "%s", use);
        else
            snprintf(path, sizeof path, "%s/%s", config_dir, use);
        if (!is_file(path)) {
            snprintf(err, errlen, "cannot open plugin '%s': %s", path,
                     access(path, F_OK) ? strerror(errno) : "not a regular file");
            return NULL;
        }
        return strdup(path);
    }
    struct find_ctx f = {use, NULL};
    each_dir(plugin_path, find_in, &f);
    if (!f.found) {
        struct names nm = {0};
        loader_scan(plugin_path, add_name, &nm);
        const char *near = suggest(use, (const char *const *)nm.v, nm.n);
        snprintf(err, errlen, "no plugin named '%s' in plugin_path '%s' or '%s'%s%s%s "
                 "(see `strata plugins`)", use, plugin_path ? plugin_path : "",
                 loader_builtin_dir(), near ? "; did you mean '" : "", near ? near : "",
                 near ? "'?" : "");
        for (size_t i = 0; i < nm.n; i++)
            free(nm.v[i]);
        free(nm.v);
    }
    return f.found;
}

struct plugin_so *loader_open(const char *path, const strata_host *host, char *err, size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(err, errlen, "cannot load '%s': %s", path, dlerror());
        return NULL;
    }
    const struct strata_plugin *p = dlsym(dl, "strata_plugin");
    if (!p) {
        snprintf(err, errlen, "no entry symbol 'strata_plugin' in '%s'", path);
        dlclose(dl);
        return NULL;
    }
    if (p->abi_major != STRATA_ABI_MAJOR) {
        snprintf(err, errlen, "plugin '%s' built for ABI %u.%u, host is %d.%d",
                 path, p->abi_major, p->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
        dlclose(dl);
        return NULL;
    }
    if (p->struct_size < offsetof(struct strata_plugin, on_event) || !p->name || !p->handle ||
        !(p->kind & (STRATA_APP | STRATA_FILTER))) {
        snprintf(err, errlen, "plugin '%s' has a malformed descriptor (name, kind and handle "
                 "are required)", path);
        dlclose(dl);
        return NULL;
    }
    struct plugin_so *so = calloc(1, sizeof *so);
    so->path = strdup(path);
    so->dl = dl;
    so->p = p;
    if (p->host)
        *p->host = host;
    return so;
}

void loader_close(struct plugin_so *so)
{
    if (!so)
        return;
    dlclose(so->dl);
    free(so->path);
    free(so);
}

struct scan_ctx {
    void (*cb)(void *, const char *);
    void *ctx;
    char **seen;
    size_t n;
};

static int scan_dir(void *ctx, const char *dir)
{
    struct scan_ctx *s = ctx;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent **list;
    closedir(d);
    int n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        size_t len = strlen(nm);
        int dup = 0;
        for (size_t k = 0; k < s->n; k++)
            dup |= strcmp(s->seen[k], nm) == 0;
        if (len > 3 && strcmp(nm + len - 3, ".so") == 0 && !dup) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            char **ns = realloc(s->seen, (s->n + 1) * sizeof *ns);
            if (ns) {
                s->seen = ns;
                s->seen[s->n++] = strdup(nm);
            }
            s->cb(s->ctx, path);
        }
        free(list[i]);
    }
    free(n >= 0 ? list : NULL);
    return 0;
}

int loader_scan(const char *plugin_path, void (*cb)(void *, const char *), void *ctx)
{
    struct scan_ctx s = {cb, ctx, NULL, 0};
    each_dir(plugin_path, scan_dir, &s);
    for (size_t i = 0; i < s.n; i++)
        free(s.seen[i]);
    free(s.seen);
    return 0;
}
