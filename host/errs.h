/* errs.h — collect "FILE: [SECTION] KEY: what" lines for the user. */
#ifndef STRATA_ERRS_H
#define STRATA_ERRS_H
#include <stddef.h>
struct errs {
    char *buf;
    size_t len, cap;
    int n;
    const char *file;
};
void errs_init(struct errs *e, char *buf, size_t cap, const char *file);
void err_add(struct errs *e, const char *section, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#endif
