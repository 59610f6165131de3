/* The Pusher HTTP API: /apps/<app_id>/... on the server's own port, so
 * that Pusher's server libraries publish and query unmodified
 * (docs/pusher-http.md).  This file reads the request (its query, a
 * body of at most SB_PUSHER_MAX_BODY bytes) and checks its signature
 * against the app's key and secret (proto_pusher_api.c); what a signed
 * request does is the app's (lua/switchboard/pusher_api.lua), reached
 * through the pusher_api hook of sb_server_hooks.  Off unless the
 * server's options name an app (pusher_app_id, pusher_key,
 * pusher_secret). */
#ifndef SB_HTTP_PUSHER_API_H
#define SB_HTTP_PUSHER_API_H

#include "net/proto.h"

extern const sb_proto_ops sb_pusher_api_ops;

#endif
