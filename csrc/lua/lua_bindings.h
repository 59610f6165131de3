/* Entry points of the binding files: each adds its constructors and
 * functions to the switchboard.core table on top of the stack and
 * registers its metatables. */
#ifndef SB_LUA_BINDINGS_H
#define SB_LUA_BINDINGS_H

#include "lua_compat.h"
#include "hub/hub.h"
#include "net/loop.h"

void sb_lua_hub_open(lua_State *L);
/* core.hub_deliver, core.hub_history (lua_hub_api.c). */
void sb_lua_hub_api_open(lua_State *L);
/* The messages of a history answer as the server API shows them
 * (lua_hub_api.c); raises on a memory error. */
void sb_lua_push_history(lua_State *L, sb_msg *const *v, size_t n);

/* The loop inside a loop userdata (raises if idx is not one). */
sb_loop *sb_lua_checkloop(lua_State *L, int idx);
void sb_lua_loop_open(lua_State *L);
void sb_lua_json_open(lua_State *L);
void sb_lua_server_open(lua_State *L);
void sb_lua_client_open(lua_State *L);
void sb_lua_http_client_open(lua_State *L);
void sb_lua_token_open(lua_State *L);
void sb_lua_cluster_open(lua_State *L);
void sb_lua_defaults_open(lua_State *L);
/* core._deflate_raw / _inflate_raw, internal, for the specs (lua_deflate.c). */
void sb_lua_deflate_open(lua_State *L);

/* The C-to-Lua seam (lua_seam.c): how a binding keeps its Lua values and
 * calls into Lua.  Read that file's opening comment first. */
/* Creates the weak table from C pointers to their userdata (once). */
void sb_lua_objects_open(lua_State *L);
/* Registers the userdata at idx as the Lua object of C pointer p. */
void sb_lua_remember(lua_State *L, const void *p, int idx);
/* Pushes the userdata registered for p, or nil once it was collected. */
void sb_lua_push_object(lua_State *L, const void *p);
/* Pushes field `name` of the user value of the userdata at idx (nil if
 * none). */
void sb_lua_push_field(lua_State *L, int idx, const char *name);
/* Pushes field `name` of the user value of p's userdata and returns 1;
 * pushes nothing and returns 0 when the object is gone or the field nil. */
int sb_lua_push_object_field(lua_State *L, const void *p, const char *name);
/* Pushes the function hooks[name] of p's userdata and returns 1; pushes
 * nothing and returns 0 when the object, its hooks or that hook is gone. */
int sb_lua_push_hook(lua_State *L, const void *p, const char *name);
/* Calls fn(lightuserdata arg) under sb_lua_pcall: fn does the pushes, the
 * call and reads the results into *arg.  Returns nonzero on an error
 * (already reported). */
int sb_lua_protect(lua_State *L, lua_CFunction fn, void *arg, const char *where);
/* The thread a loop-driven object calls back on: the one inside the
 * current step or method (loop->host), or NULL when Lua cannot be entered
 * now (no step in progress, or the loop is being torn down). */
lua_State *sb_lua_loop_state(const sb_loop *l);
/* For a method that may make C call back: runs its C call with loop->host
 * set to the calling thread, restored afterwards. */
#define SB_ENTER_LOOP(l, L) void *sb_saved_host_ = (l)->host; \
    sb_loop *sb_saved_log_ = sb_log_enter(l); (l)->host = (L)
#define SB_LEAVE_LOOP(l) ((l)->host = sb_saved_host_, sb_log_leave(sb_saved_log_))

/* JSON values for Lua (lua_json.c).  Pushes the Lua value of the JSON text
 * s[0..n), which a codec has already validated: objects and arrays become
 * plain tables (arrays from 1), null is lua-cjson's null (json.null of
 * lua/switchboard/json.lua), integral numbers are integers on 5.3+ (as
 * json.lua makes them).  Raises on out of memory or text that is not
 * JSON: call it inside a protected call. */
void sb_lua_push_json(lua_State *L, const char *s, size_t n);
/* Gives the table at idx the array metatable (core.array_mt): lua-cjson
 * 2.1 cannot tell an empty array from an empty object and writes both as
 * {}, so json.lua's encode writes a marked empty table as [].  Lists the
 * bindings return and empty arrays the decoder builds carry it. */
void sb_lua_mark_array(lua_State *L, int idx);
/* The depth the protocol decoders and json.lua accept. */
#define SB_LUA_JSON_DEPTH 64

/* For other bindings: the hub inside a hub userdata (raises if idx is not
 * one), and the mapping between a connection and the Lua object that
 * represents it, so hub events and hub:join can cross the boundary.
 * The mapping lives in the hub userdata's user value and holds the object
 * strongly: unbind after sb_hub_disconnect, when the connection is gone.
 * hub:join/leave/publish accept exactly the objects bound here. */
sb_hub *sb_lua_checkhub(lua_State *L, int idx);
void sb_lua_hub_bind_conn(lua_State *L, int hubidx, sb_conn *c, int objidx);
void sb_lua_hub_unbind_conn(lua_State *L, int hubidx, sb_conn *c);
void sb_lua_hub_push_conn(lua_State *L, int hubidx, const sb_conn *c);

#endif
