/* fuzz_accept_encoding.c — the gzip plugin's parser of the client's
 * Accept-Encoding header (accepts_gzip, parse_q). Checks its promises:
 * an answer of 0 or 1, no yes without "gzip" or "*" in the text, and a
 * trailing ", gzip" element always accepted (elements split on ','). */
// fuzz-libs: -lz
#include "../../plugins/gzip/gzip.c"
#include "../../plugins/lib/httputil.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 8);
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);   /* a header value ends at the first NUL */

    int yes = accepts_gzip(s);
    CHECK(yes == 0 || yes == 1);
    if (yes)
        CHECK(strcasestr(s, "gzip") || strchr(s, '*'));

    int q = parse_q(s, n);
    CHECK(q >= -1 && q <= 1000);

    memcpy(s + n, ",gzip", 6);
    CHECK(accepts_gzip(s) == 1);
    free(s);
    return 0;
}
