/* Private to lua_server.c and lua_server_http.c: the server userdata,
 * what a hook's protected call reads and writes, and the helpers both
 * files' hooks use. */
#ifndef SB_LUA_SERVER_INTERNAL_H
#define SB_LUA_SERVER_INTERNAL_H

#include "lua_bindings.h"
#include "net/server.h"

typedef struct sb_lua_server {
    sb_server *srv;
    sb_loop *loop;   /* kept alive by the user value's loop */
    int self_ref;    /* pins the userdata while it may call back */
    int closing;     /* server:close() ran */
    int handles;     /* handles in uservalue.conns */
    /* srv:set_lazy(): connections of one-channel protocols are accepted
     * without entering Lua (no handle, no hooks) until Lua adopts them */
    int lazy;
    int bare;        /* such connections not yet closed or adopted */
} sb_lua_server;

/* What the hooks' protected calls read and write. */
typedef struct sb_hook_call {
    sb_lua_server *ls;
    sb_wsconn *c;
    const sb_request *req;
    const char *topic, *event, *data;    /* topic doubles as SSE channel */
    size_t tlen, elen, n;
    const char *to;                      /* a direct message's uid */
    size_t to_len;
    int num;                             /* close code, binary flag */
    uint64_t num64;                      /* an API call's ticket */
    /* results */
    int rc;
    char *text;                          /* reason or Phoenix status */
    size_t text_len;
    sb_buf *out;
    int out_binary;
} sb_hook_call;

/* Starts a hook call: x is zeroed and names the server and connection;
 * returns the Lua state to call in, or NULL when the loop has none (the
 * state is closing: the hook is skipped). */
lua_State *sb_hook_begin(sb_hook_call *x, void *ud, sb_wsconn *c);
/* Pushes a request as a table (path, query, headers, token, ip, ...). */
void sb_lua_push_request(lua_State *L, const sb_request *req);
/* Copies the value at idx into out when it is a string. */
void sb_lua_take_string(lua_State *L, int idx, sb_buf *out);
/* The server-wide hooks (lua_server_http.c): the server API's auth and
 * methods, Pusher's HTTP API, an endpoint's request, /metrics and the
 * collector's turn. */
void sb_lua_server_http_hooks(sb_server_hooks *hooks);

#endif
