/*
 * http.h - the libmicrohttpd glue: one daemon per listen address, the
 * multi-call request state machine, and turning struct response into MHD
 * responses. The only file (with request.c) that includes microhttpd.h.
 */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include "server/server.h"

/* Parse cfg->listen, bind every address and start serving. Sets srv->http.
 * Returns 0 or BERR_CONFIG (bad address) / BERR_IO (cannot bind). */
int http_start(struct server *srv);
/* Stop accepting new connections; in-flight requests go on. */
void http_quiesce(struct server *srv);
/* Stop the daemons (closes every connection) and free srv->http. */
void http_stop(struct server *srv);
/* 1 when every listen address is a loopback address. */
int http_loopback_only(const struct config *cfg);
/* Log one "listening on" line per address. */
void http_log_addresses(struct server *srv);

#endif
