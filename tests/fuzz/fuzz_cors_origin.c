/* fuzz_cors_origin.c — the headers plugin's checks of client input: the
 * Origin header against configured origins and globs (origin_allowed)
 * and the Access-Control-Request-Headers it may reflect (reflectable).
 * An allowed origin must really be one of those configured. */
#include "../../plugins/headers/headers.c"
#include "../../plugins/lib/httputil.c"
#include "strata-test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static stt_instance *inst;

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!inst) {
        inst = stt_create(&strata_plugin, NULL, "cors_origins",
                          "https://app.example.com https://*.example.org", NULL);
        CHECK(inst);
    }
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    if (origin_allowed(stt_inst(inst), s)) {
        int exact = strcasecmp(s, "https://app.example.com") == 0;
        int glob = strncasecmp(s, "https://", 8) == 0 && ends_with_ci(s, ".example.org") &&
                   !strchr(s + 8, '/') && !strchr(s + 8, '@') && !strchr(s, ' ');
        CHECK(exact || glob);
    }
    const char *r = reflectable(s);
    if (r) {
        CHECK(r == s && *r);
        for (const char *p = r; *p; p++)
            CHECK(is_tchar((unsigned char)*p) || *p == ',' || *p == ' ' || *p == '\t');
    }
    free(s);
    return 0;
}
