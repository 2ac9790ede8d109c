/* loader.h — plugin .so files: find, dlopen, check the ABI stamp. */
#ifndef STRATA_LOADER_H
#define STRATA_LOADER_H
#include "../sdk/strata.h"
#include <stddef.h>

struct plugin_so {
    char *path;
    void *dl;
    const struct strata_plugin *p;
    struct plugin_so *next;
};

/* The folder of bundled plugins: next to the binary, else ../lib/strata/plugins. */
const char *loader_builtin_dir(void);
/* `use` is a name (searched in plugin_path, then the built-in folder) or
 * a path when it contains '/'. Returns a malloc'd path or NULL + err. */
char *loader_find(const char *use, const char *plugin_path, const char *config_dir,
                  char *err, size_t errlen);
/* dlopen + stamp check; the host table is stored into the plugin. */
struct plugin_so *loader_open(const char *path, const strata_host *host, char *err, size_t errlen);
void loader_close(struct plugin_so *so);
/* Every .so in plugin_path and the built-in folder, by name (no duplicates). */
int loader_scan(const char *plugin_path, void (*cb)(void *ctx, const char *path), void *ctx);
#endif
