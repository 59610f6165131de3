/* The server API: JSON over HTTP on the server's own port, for backends
 * that cannot run Lua hooks (docs/api.md).  POST <prefix>/<method> with
 * a JSON object body and an API key header; the methods themselves run in
 * the app (lua/switchboard/api.lua), reached through the api_auth and api
 * hooks of sb_server_hooks.  Off unless the server's options name a
 * prefix (api_prefix). */
#ifndef SB_HTTP_API_H
#define SB_HTTP_API_H

#include "net/proto.h"

extern const sb_proto_ops sb_api_ops;

/* Answers a call the api hook held (SB_API_HELD) with status and its
 * JSON body.  0, or -1 when that call is no longer waiting (answered 504
 * on timeout, or its client went): the answer is dropped. */
int sb_server_api_reply(sb_server *s, uint64_t ticket, int status,
                        const char *body, size_t n);

#endif
