/* The defaults of every server and hub option that has one: the only place
 * their values are written.  The C code reads the SB_DEFAULT_<name>
 * constants, core.defaults() hands the same rows to Lua (lua_defaults.c,
 * used by lua/switchboard/limits.lua), and spec/defaults_spec.lua checks
 * the README's "Defaults" table against them row by row.
 *
 * Each row: SB_DEFAULT(name, value, unit, doc).  name is the option's Lua
 * name, with "sse_" standing for the sse = { ... } table, "longpoll_"
 * for longpoll = { ... }, "api_" for api = { ... } and "pusher_" for
 * pusher = { ... }; value is an
 * integer constant expression; a unit "x <option>" makes the value a
 * multiple of that option's value.  Options whose default is "off"
 * (history) have no row: 0 already means that in the C structs.
 *
 * In base/ so that every layer may include it (the hub's own options are
 * here too); it includes nothing. */
#ifndef SB_DEFAULTS_H
#define SB_DEFAULTS_H

#define SB_DEFAULTS(SB_DEFAULT) \
    SB_DEFAULT(max_message, 64 * 1024, "bytes", \
               "one incoming message, in at most max(64, max_message / 64) frames; close 1009 beyond") \
    SB_DEFAULT(max_queue, 4 * 1024 * 1024, "bytes", \
               "queued for one slow reader; close 1013 beyond") \
    SB_DEFAULT(max_connections, 50000, "connections", \
               "WebSocket and SSE connections in all (false: no cap); HTTP 503 beyond") \
    SB_DEFAULT(max_per_ip, 256, "connections", \
               "open at once from one peer address, loopback not counted (false: no cap); HTTP 503 beyond") \
    SB_DEFAULT(max_connect_rate, 20, "connections/s", \
               "new connections per peer address, loopback not counted (false: off); HTTP 429 beyond") \
    SB_DEFAULT(max_rate, 5000, "messages/s", \
               "per connection (false: off); beyond, dropped, and a long flood closes with 1008") \
    SB_DEFAULT(max_burst, 2, "x max_rate", \
               "depth of the rate limit's bucket") \
    SB_DEFAULT(max_channels, 100, "channels", \
               "channels (Phoenix topics) one connection may join") \
    SB_DEFAULT(phoenix_timeout, 60, "s", \
               "without a Phoenix frame before the socket closes (false: never)") \
    SB_DEFAULT(handshake_timeout, 10, "s", \
               "to send the request head, and each part of a POST body") \
    SB_DEFAULT(max_header_bytes, 4096, "bytes", \
               "request line and headers (lws's own default); hung up on beyond") \
    SB_DEFAULT(max_url, 2048, "bytes", \
               "path and query; HTTP 414 beyond") \
    SB_DEFAULT(ping_interval, 30, "s", \
               "between WebSocket pings (false: none)") \
    SB_DEFAULT(idle_timeout, 60, "s", \
               "without a pong, or with sent data unacknowledged, before closing (false: never)") \
    SB_DEFAULT(sse_keepalive, 15, "s", \
               "between the \":\" comments of an SSE stream") \
    SB_DEFAULT(sse_retry, 2000, "ms", \
               "sent as retry: when an SSE stream opens (false: none)") \
    SB_DEFAULT(sse_max_body, 64 * 1024, "bytes", \
               "body of a POST to an SSE channel; HTTP 413 beyond") \
    SB_DEFAULT(longpoll_window, 10, "s", \
               "a Phoenix LongPoll poll is held open waiting for messages before it is answered 204") \
    SB_DEFAULT(longpoll_timeout, 15, "s", \
               "without a poll before a Phoenix LongPoll session ends") \
    SB_DEFAULT(longpoll_max_body, 1024 * 1024, "bytes", \
               "body of a Phoenix LongPoll POST (a batch of messages); 413 beyond") \
    SB_DEFAULT(api_max_body, 64 * 1024, "bytes", \
               "body of a server API call; HTTP 413 beyond") \
    SB_DEFAULT(api_timeout, 5, "s", \
               "a server API call waiting on the cluster (Redis) is answered 504 after this long") \
    SB_DEFAULT(pusher_activity_timeout, 120, "s", \
               "told to Pusher clients: they ping after this long without a frame") \
    SB_DEFAULT(pusher_auth_max_body, 16 * 1024, "bytes", \
               "body of a request to the Pusher auth endpoint; HTTP 413 beyond") \
    SB_DEFAULT(typing_ttl, 5, "s", \
               "before a member's typing flag clears by itself") \
    SB_DEFAULT(max_idle_channels, 10000, "channels", \
               "empty channels a hub keeps for their history")

/* SB_DEFAULT_max_message and so on: ints (every value fits one). */
enum {
#define SB_DEFAULT_CONSTANT(name, value, unit, doc) SB_DEFAULT_##name = (value),
    SB_DEFAULTS(SB_DEFAULT_CONSTANT)
#undef SB_DEFAULT_CONSTANT
};

#endif
