/* parse.c — Authorization header and path parsing for auth (see parse.h). */
#include "parse.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Base64 value of each byte, or -1; RFC 4648 section 4 alphabet only. */
/* base64 alphabet value + 1 (0: not base64): a table, as this runs on
 * every request's Authorization header */
static const unsigned char b64_table[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
    ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
    ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
    ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
    ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,
    ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static inline int b64_value(unsigned char c) { return (int)b64_table[c] - 1; }

static int is_ws(char c) { return c == ' ' || c == '\t'; }

int cred_parse_basic(const char *value, char *out, size_t *len, size_t *colon)
{
    const char *p = value;
    while (is_ws(*p))
        p++;
    const char *scheme = p;
    while (*p && !is_ws(*p))
        p++;
    if ((size_t)(p - scheme) != 5 || strncasecmp(scheme, "basic", 5) != 0)
        return CRED_NONE;
    while (is_ws(*p))
        p++;

    /* token68: base64 with optional '=' padding, then only whitespace */
    const char *b = p;
    size_t n = 0;
    while (b64_value((unsigned char)b[n]) >= 0)
        n++;
    size_t pad = 0;
    while (b[n + pad] == '=' && pad < 2)
        pad++;
    const char *rest = b + n + pad;
    while (is_ws(*rest))
        rest++;
    if (*rest || n == 0 || n % 4 == 1)
        return CRED_MALFORMED;
    if (pad && (n + pad) % 4 != 0)
        return CRED_MALFORMED;
    if (n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > CRED_MAX)
        return CRED_MALFORMED;

    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6) | (uint32_t)b64_value((unsigned char)b[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }

    size_t c = (size_t)-1;
    for (size_t i = 0; i < o; i++) {
        unsigned char ch = (unsigned char)out[i];
        if (ch < 0x20 || ch == 0x7f)
            return CRED_MALFORMED;   /* RFC 7617 section 2: no controls */
        if (ch == ':' && c == (size_t)-1)
            c = i;
    }
    if (c == (size_t)-1)
        return CRED_MALFORMED;
    *len = o;
    *colon = c;
    return CRED_OK;
}

int path_normalize(const char *mount, const char *path, char *out, size_t cap)
{
    if (cap < 2)
        return -1;
    size_t o = 0;
    const char *parts[2] = {mount ? mount : "", path ? path : ""};
    for (int k = 0; k < 2; k++) {
        const char *p = parts[k];
        while (*p) {
            while (*p == '/')
                p++;
            const char *seg = p;
            while (*p && *p != '/')
                p++;
            size_t sl = (size_t)(p - seg);
            if (sl == 0 || (sl == 1 && seg[0] == '.'))
                continue;
            if (sl == 2 && seg[0] == '.' && seg[1] == '.') {
                if (o == 0)
                    return -1;
                while (o > 0 && out[o - 1] != '/')
                    o--;
                o--;   /* the '/' itself */
                continue;
            }
            if (o + 1 + sl >= cap)
                return -1;
            out[o++] = '/';
            memcpy(out + o, seg, sl);
            o += sl;
        }
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return (int)o;
}

int path_under(const char *path, const char *prefix)
{
    if (prefix[0] == '/' && prefix[1] == '\0')
        return 1;
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void log_escape(const char *s, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < max && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            if (o + 4 >= cap)
                break;
            snprintf(out + o, cap - o, "\\x%02x", c);
            o += 4;
        } else {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}
