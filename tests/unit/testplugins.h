/* testplugins.h — where the tiny test plugins of tests/fixtures/plugins
 * were built: $STRATA_TESTPLUGINS, else next to this binary's folder
 * (build/asan/tests/test_loader -> build/asan/testplugins), so `make test`
 * needs no environment. */
#ifndef STRATA_TESTPLUGINS_H
#define STRATA_TESTPLUGINS_H
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char testplugins_dir[PATH_MAX];

/* Returns 0 when the folder holds echo.so; prints why not otherwise. */
static int testplugins_find(const char *argv0)
{
    const char *env = getenv("STRATA_TESTPLUGINS");
    if (env && *env) {
        snprintf(testplugins_dir, sizeof testplugins_dir, "%s", env);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0)
            exe[n] = '\0';
        else
            snprintf(exe, sizeof exe, "%s", argv0);
        char *tests = dirname(exe);            /* build/asan/tests */
        char *build = dirname(tests);          /* build/asan       */
        snprintf(testplugins_dir, sizeof testplugins_dir, "%s/testplugins", build);
    }
    char probe[PATH_MAX + 16];
    snprintf(probe, sizeof probe, "%s/echo.so", testplugins_dir);
    struct stat st;
    if (stat(probe, &st) != 0) {
        fprintf(stderr, "test plugins not found in '%s': build them with `make testplugins` "
                "(same BUILD and MODE) or set STRATA_TESTPLUGINS\n", testplugins_dir);
        return -1;
    }
    return 0;
}

/* "DIR/NAME.so" in a static ring, good for a few calls at once. */
__attribute__((unused)) static const char *testplugin(const char *name)
{
    static char ring[4][PATH_MAX + 64];
    static int i;
    char *p = ring[i++ % 4];
    snprintf(p, PATH_MAX + 64, "%s/%s.so", testplugins_dir, name);
    return p;
}
#endif
