/*
 * request.c - request accessors over the MHD connection, so handlers never
 * include microhttpd.h.
 */
#include "server/request.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

const char *request_header(struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *request_query(struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct kv_adapter {
    request_kv_fn fn;
    void *ctx;
};

static enum MHD_Result kv_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct kv_adapter *a = cls;
    (void)kind;
    a->fn(a->ctx, key, value ? value : "");
    return MHD_YES;
}

void request_query_each(struct request *r, request_kv_fn fn, void *ctx)
{
    struct kv_adapter a = {fn, ctx};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, kv_visit, &a);
}

const char *request_client_addr(struct request *r)
{
    static _Thread_local char text[INET6_ADDRSTRLEN + 1];
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    text[0] = '\0';
    if (!ci || !ci->client_addr)
        return "unknown";
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, text,
                  sizeof(text));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, text,
                  sizeof(text));
    return text[0] ? text : "unknown";
}
