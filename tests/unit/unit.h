/* unit.h — helpers shared by the host unit tests (tests/unit/test_*.c).
 *
 * Each test binary owns a mkdtemp folder for the INI files it writes;
 * messages are checked as whole "FILE: [SECTION] KEY: what" lines.
 * Header-only so every test stays one .c file for the Makefile rule. */
#ifndef STRATA_UNIT_H
#define STRATA_UNIT_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A small file's text (a plugin's log): static buffer, "" when absent. */
static inline char *unit_slurp(const char *path)
{
    static char buf[4096];
    buf[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* An assertion with a message saying what was seen. */
#define EXPECT_MSG(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond))                                                          \
            fail_msg(__VA_ARGS__);                                            \
    } while (0)

static char unit_dir[PATH_MAX];

/* The folder for this binary's files; made once, removed at exit. */
static void unit_rmdir(void)
{
    if (!unit_dir[0])
        return;
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", unit_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", unit_dir);
}

__attribute__((unused)) static const char *unit_tmpdir(void)
{
    if (unit_dir[0])
        return unit_dir;
    char tmpl[] = "/tmp/strata-unit-XXXXXX";
    if (!mkdtemp(tmpl))
        abort();
    /* realpath: %(here)s is absolute and resolved */
    if (!realpath(tmpl, unit_dir))
        abort();
    atexit(unit_rmdir);
    return unit_dir;
}

/* Write `text` to NAME in the folder; returns its path (malloc'd). */
__attribute__((unused)) static char *unit_write(const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", unit_tmpdir(), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return strdup(path);
}

/* err contains the line exactly (with its "\n"). */
#define assert_has_line(err, ...)                                             \
    do {                                                                      \
        char want_[PATH_MAX * 3];                                                     \
        snprintf(want_, sizeof want_, __VA_ARGS__);                           \
        if (!strstr((err), want_))                                            \
            fail_msg("expected the line\n  %s\nin\n  %s", want_, (err));     \
    } while (0)

#define assert_contains(hay, needle)                                          \
    do {                                                                      \
        const char *h_ = (hay), *n_ = (needle);                               \
        if (!h_ || !strstr(h_, n_))                                           \
            fail_msg("expected '%s' in '%s'", n_, h_ ? h_ : "(null)");        \
    } while (0)

#define assert_not_contains(hay, needle)                                      \
    do {                                                                      \
        const char *h_ = (hay), *n_ = (needle);                               \
        if (h_ && strstr(h_, n_))                                             \
            fail_msg("did not expect '%s' in '%s'", n_, h_);                  \
    } while (0)

__attribute__((unused)) static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}
#endif
