rockspec_format = "3.0"
package = "switchboard"
version = "scm-1"
source = {
   url = "git+https://example.invalid/switchboard.git",
}
description = {
   summary = "Realtime channels for Lua with a C core",
   detailed = [[
Named channels, presence, typing, history and fan-out in C on libwebsockets
and libuv; room logic in Lua.  Speaks a native itty-sockets compatible
protocol, Phoenix Channels V2 and Server-Sent Events.
]],
   license = "MIT",
   labels = { "websocket", "realtime", "pubsub", "phoenix", "sse" },
}
dependencies = {
   "lua >= 5.1",
   "lua-cjson",
}
external_dependencies = {
   LIBWEBSOCKETS = { header = "libwebsockets.h", library = "websockets" },
   LIBUV = { header = "uv.h", library = "uv" },
   -- HMAC-SHA256 and CRYPTO_memcmp for switchboard.token
   OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
   HIREDIS = { header = "hiredis/hiredis.h", library = "hiredis" },
}
build = {
   type = "builtin",
   modules = {
      ["switchboard.core"] = {
         sources = {
            "csrc/buf.c",
            "csrc/client.c",
            "csrc/cluster.c",
            "csrc/cluster_direct.c",
            "csrc/cluster_history.c",
            "csrc/cluster_order.c",
            "csrc/cluster_phx.c",
            "csrc/cluster_presence.c",
            "csrc/cluster_scripts.c",
            "csrc/cluster_wire.c",
            "csrc/codec.c",
            "csrc/conn.c",
            "csrc/frame.c",
            "csrc/http_publish.c",
            "csrc/http_sse.c",
            "csrc/http_static.c",
            "csrc/hub.c",
            "csrc/hub_cluster.c",
            "csrc/hub_history.c",
            "csrc/hub_msg.c",
            "csrc/hub_query.c",
            "csrc/hub_typing.c",
            "csrc/json.c",
            "csrc/limits.c",
            "csrc/loop.c",
            "csrc/lua_client.c",
            "csrc/lua_cluster.c",
            "csrc/lua_compat.c",
            "csrc/lua_core.c",
            "csrc/lua_hub.c",
            "csrc/lua_hub_errors.c",
            "csrc/lua_hub_events.c",
            "csrc/lua_hubconn.c",
            "csrc/lua_loop.c",
            "csrc/lua_server.c",
            "csrc/lua_server_config.c",
            "csrc/lua_token.c",
            "csrc/map.c",
            "csrc/names.c",
            "csrc/proto_native.c",
            "csrc/proto_phoenix.c",
            "csrc/proto_sse.c",
            "csrc/queue.c",
            "csrc/flush.c",
            "csrc/request.c",
            "csrc/workers.c",
            "csrc/listener.c",
            "csrc/redis.c",
            "csrc/resume.c",
            "csrc/server.c",
            "csrc/sse_request.c",
            "csrc/token.c",
            "csrc/url.c",
            "csrc/utf8.c",
            "csrc/ws_native.c",
            "csrc/ws_phoenix.c",
            "csrc/ws_phoenix_token.c",
            "csrc/ws_native_resume.c",
         },
         incdirs = { "csrc", "$(LIBWEBSOCKETS_INCDIR)", "$(LIBUV_INCDIR)", "$(OPENSSL_INCDIR)",
                     "$(HIREDIS_INCDIR)" },
         libdirs = { "$(LIBWEBSOCKETS_LIBDIR)", "$(LIBUV_LIBDIR)", "$(OPENSSL_LIBDIR)",
                     "$(HIREDIS_LIBDIR)" },
         libraries = { "websockets", "uv", "crypto", "hiredis" },
      },
      ["switchboard"] = "lua/switchboard/init.lua",
      ["switchboard.hub"] = "lua/switchboard/hub.lua",
      ["switchboard.json"] = "lua/switchboard/json.lua",
      ["switchboard.server"] = "lua/switchboard/server.lua",
      ["switchboard.client"] = "lua/switchboard/client.lua",
      ["switchboard.phoenix"] = "lua/switchboard/phoenix.lua",
      ["switchboard.phoenix_presence"] = "lua/switchboard/phoenix_presence.lua",
      ["switchboard.cli"] = "lua/switchboard/cli.lua",
      ["switchboard.relay"] = "lua/switchboard/relay.lua",
      ["switchboard.token"] = "lua/switchboard/token.lua",
      ["switchboard.limits"] = "lua/switchboard/limits.lua",
      ["switchboard.channel_rules"] = "lua/switchboard/channel_rules.lua",
   },
   install = {
      bin = { switchboard = "bin/switchboard" },
   },
}
test = {
   type = "busted",
}
