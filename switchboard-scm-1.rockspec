rockspec_format = "3.0"
package = "switchboard"
version = "scm-1"
-- Where the project is published (docs/releasing.md).  `make rock` packs
-- and builds from a local checkout instead: it writes a copy of this file
-- whose url is git+file://<the checkout>, which luarocks pack/build accept.
source = {
   url = "git+https://github.com/switchboard-lua/switchboard.git",
   branch = "main",
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
            "csrc/base/buf.c",
            "csrc/base/frame.c",
            "csrc/base/map.c",
            "csrc/base/str.c",
            "csrc/base/utf8.c",
            "csrc/cluster/cluster.c",
            "csrc/cluster/cluster_direct.c",
            "csrc/cluster/cluster_history.c",
            "csrc/cluster/cluster_order.c",
            "csrc/cluster/cluster_phx.c",
            "csrc/cluster/cluster_hold.c",
            "csrc/cluster/cluster_presence.c",
            "csrc/cluster/cluster_receive.c",
            "csrc/cluster/cluster_scripts.c",
            "csrc/cluster/cluster_wire.c",
            "csrc/cluster/redis.c",
            "csrc/codec/codec.c",
            "csrc/codec/envelope.c",
            "csrc/codec/json.c",
            "csrc/codec/msgid.c",
            "csrc/codec/token.c",
            "csrc/codec/url.c",
            "csrc/hub/hub.c",
            "csrc/hub/hub_cluster.c",
            "csrc/hub/hub_history.c",
            "csrc/hub/hub_msg.c",
            "csrc/hub/hub_query.c",
            "csrc/hub/hub_typing.c",
            "csrc/hub/names.c",
            "csrc/lua/lua_client.c",
            "csrc/lua/lua_cluster.c",
            "csrc/lua/lua_compat.c",
            "csrc/lua/lua_core.c",
            "csrc/lua/lua_defaults.c",
            "csrc/lua/lua_hub.c",
            "csrc/lua/lua_hub_errors.c",
            "csrc/lua/lua_hub_events.c",
            "csrc/lua/lua_hub_timer.c",
            "csrc/lua/lua_hubconn.c",
            "csrc/lua/lua_json.c",
            "csrc/lua/lua_loop.c",
            "csrc/lua/lua_seam.c",
            "csrc/lua/lua_server.c",
            "csrc/lua/lua_server_config.c",
            "csrc/lua/lua_token.c",
            "csrc/lua/lua_wsconn.c",
            "csrc/net/accept.c",
            "csrc/net/client.c",
            "csrc/net/conn.c",
            "csrc/net/flush.c",
            "csrc/net/http.c",
            "csrc/net/http_static.c",
            "csrc/net/limits.c",
            "csrc/net/listener.c",
            "csrc/net/loop.c",
            "csrc/net/options.c",
            "csrc/net/queue.c",
            "csrc/net/receive.c",
            "csrc/net/request.c",
            "csrc/net/resume.c",
            "csrc/net/server.c",
            "csrc/net/workers.c",
            "csrc/protocols/native/proto_native.c",
            "csrc/protocols/native/ws_native.c",
            "csrc/protocols/native/ws_native_resume.c",
            "csrc/protocols/phoenix/http_longpoll.c",
            "csrc/protocols/phoenix/longpoll_post.c",
            "csrc/protocols/phoenix/longpoll_session.c",
            "csrc/protocols/phoenix/proto_longpoll.c",
            "csrc/protocols/phoenix/proto_phoenix.c",
            "csrc/protocols/phoenix/ws_phoenix.c",
            "csrc/protocols/phoenix/ws_phoenix_server.c",
            "csrc/protocols/phoenix/ws_phoenix_token.c",
            "csrc/protocols/registry.c",
            "csrc/protocols/sse/http_sse.c",
            "csrc/protocols/sse/proto_sse.c",
            "csrc/protocols/sse/sse_post.c",
            "csrc/protocols/sse/sse_request.c",
         },
         incdirs = { "csrc", "$(LIBWEBSOCKETS_INCDIR)", "$(LIBUV_INCDIR)", "$(OPENSSL_INCDIR)",
                     "$(HIREDIS_INCDIR)" },
         libdirs = { "$(LIBWEBSOCKETS_LIBDIR)", "$(LIBUV_LIBDIR)", "$(OPENSSL_LIBDIR)",
                     "$(HIREDIS_LIBDIR)" },
         libraries = { "websockets", "uv", "crypto", "hiredis" },
         -- the POSIX/GNU declarations (clock_gettime, dup3, O_CLOEXEC,
         -- accept4, PATH_MAX) are hidden under -std=c99 without it
         defines = { "_GNU_SOURCE" },
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
      ["switchboard.util"] = "lua/switchboard/util.lua",
      ["switchboard.options"] = "lua/switchboard/options.lua",
   },
   install = {
      bin = { switchboard = "bin/switchboard" },
   },
   -- installed with the rock, next to its rockspec
   copy_directories = { "docs", "examples" },
}
test = {
   type = "busted",
}
