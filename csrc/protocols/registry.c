/* The protocol table (registry.h). */
#include "registry.h"

#include "api/http_api.h"
#include "native/ws_native.h"
#include "phoenix/http_longpoll.h"
#include "phoenix/ws_phoenix.h"
#include "pusher/ws_pusher.h"
#include "pusher_api/http_pusher_api.h"
#include "sse/http_sse.h"

const sb_proto_ops *const sb_protocols[] = {
    &sb_native_ops,     /* ws://HOST/c/<channel> */
    &sb_phoenix_ops,    /* ws://HOST/<mount>/websocket */
    &sb_sse_ops,        /* GET and POST http://HOST/sse/<channel> */
    &sb_longpoll_ops,   /* GET and POST http://HOST/<mount>/longpoll */
    &sb_api_ops,        /* POST http://HOST/api/<method>, when configured */
    &sb_pusher_ops,     /* ws://HOST/app/<key> and its auth endpoint, when configured */
    &sb_pusher_api_ops, /* http://HOST/apps/<app_id>/..., when pusher is configured */
    NULL
};
