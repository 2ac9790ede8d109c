/* hostapi.h — the function table handed to every plugin. */
#ifndef STRATA_HOSTAPI_H
#define STRATA_HOSTAPI_H
#include "../sdk/strata.h"
struct errs;
const strata_host *hostapi_table(void);
/* While creating instances, config_error() lands here (one thread). */
void hostapi_set_errs(struct errs *e);
int hostapi_config_errors(void);
#endif
