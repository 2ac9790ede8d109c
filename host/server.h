/* server.h — one worker's HTTP side: libmicrohttpd callbacks only. */
#ifndef STRATA_SERVER_H
#define STRATA_SERVER_H
#include "runtime.h"
struct server;
/* Serve rt on the listening socket fd (owned by the caller). */
struct server *server_start(struct runtime *rt, int listen_fd, char *err, size_t errlen);
/* Stop accepting, wait up to `grace` seconds for requests in flight, stop. */
void server_stop(struct server *s, double grace);
/* The header-deadline sweep; the worker calls it about twice a second. */
void server_sweep(struct server *s);
const struct runtime *server_runtime(void);
#endif
