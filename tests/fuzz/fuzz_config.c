/* fuzz_config.c — config_load on any file text: no crash, no leak, and
 * every message a "FILE: ..." line. When the text loads and declares no
 * [app:] or [filter:] section (so nothing is dlopen'ed: `use` may name
 * any .so on the machine), runtime_build runs too, which exercises the
 * pipeline and urlmap checks (unknown names, cycles, suggestions).
 *
 * The host files are compiled as their own units (the fuzz-cflags line
 * below) rather than #included, so statics of the same name in two host
 * files never clash here; server_runtime(), which lives with
 * libmicrohttpd in server.c, is stubbed. */
// fuzz-cflags: host/config.c host/errs.c host/runtime.c host/loader.c host/hostapi.c host/pipeline.c host/scoreboard.c host/log.c
// fuzz-libs: -liniparser -ldl
#include "../../host/config.h"
#include "../../host/log.h"
#include "../../host/runtime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

const struct runtime *server_runtime(void);
const struct runtime *server_runtime(void) { return NULL; }

static char dir[64], path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

/* Each complete line is "FILE: ..."; iniparser's own syntax message
 * continues on a "-> line" (a reported host bug, tolerated here). */
static void check_messages(const char *err)
{
    size_t plen = strlen(path);
    for (const char *line = err; *line;) {
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;                      /* the buffer's truncated tail */
        CHECK((strncmp(line, path, plen) == 0 && line[plen] == ':' && line[plen + 1] == ' ') ||
              strncmp(line, "-> ", 3) == 0);
        line = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_config-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/fuzz.ini", dir);
        atexit(cleanup);
        setenv("FUZZ_ENV", "from-env", 1);
        log_set_level(-1);              /* runtime errors go to err, not stderr */
    }
    /* config_load's per-section arrays are sized by the whole file: keep
     * inputs to what a config file is */
    if (size > 16384)
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    char *over[] = {"port=0", "fuzz=%(here)s"};
    char err[4096];
    struct config c;
    int rc = config_load(&c, path, over, 2, err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    CHECK(rc == 0 ? err[0] == '\0' : err[0] != '\0');
    check_messages(err);
    int plugins = 0;
    for (size_t i = 0; rc == 0 && i < c.n_sec; i++) {
        CHECK(c.sec[i].full && c.sec[i].name);
        plugins |= c.sec[i].type == SEC_APP || c.sec[i].type == SEC_FILTER;
        for (size_t k = 0; k < c.sec[i].n_kv; k++)
            CHECK(c.sec[i].kv[k].key && c.sec[i].kv[k].value);
    }
    if (rc == 0) {
        CHECK(c.server.host && c.server.plugin_path);
        CHECK(c.server.port >= 0 && c.server.port <= 65535);
        CHECK(c.server.threads >= 1);
    }
    config_free(&c);

    if (rc == 0 && !plugins) {
        struct runtime *rt = runtime_build(path, over, 2, err, sizeof err);
        CHECK(!rt);                     /* no app anywhere: nothing can be served */
        CHECK(err[0] != '\0');
        check_messages(err);
    }
    return 0;
}
