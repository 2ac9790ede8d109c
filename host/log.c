/* log.c — one write() per line so lines from threads and processes sharing
 * stderr never interleave. */
#include "log.h"
#include "../sdk/strata.h"
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int max_level = STRATA_LOG_INFO;
static char role[32] = "strata";

void log_set_level(int level) { max_level = level; }
void log_set_role(const char *r) { snprintf(role, sizeof role, "%s", r); }

void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > max_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int n = (int)strftime(line, 64, "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, " %s[%d] %s: %s%s", role, (int)getpid(),
                  names[level < 0 ? 0 : level > 3 ? 3 : level], prefix ? prefix : "",
                  prefix && *prefix ? " " : "");
    if (n < (int)sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (n >= (int)sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, NULL, fmt, ap);
    va_end(ap);
}
