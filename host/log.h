/* log.h — the host's error log (stderr, or a file with error_log). */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H
#include <stdarg.h>
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);
void log_set_level(int level);
/* "worker 2" etc., prefixed to every line of this process. */
void log_set_role(const char *role);
#endif
