/* core.jwt_sign / core.jwt_verify: the C half of switchboard.token.  Lua
 * turns claims into JSON and checks exp/nbf; C does the base64url, the
 * HMAC, the constant-time compare and the alg check (token.c). */
#include "lua_bindings.h"
#include "codec/token.h"

#include <string.h>

/* core.jwt_sign(claims_json, secret) -> token | nil, err */
static int sb_lua_jwt_sign(lua_State *L)
{
    size_t cn, sn;
    const char *claims = luaL_checklstring(L, 1, &cn);
    const char *secret = luaL_checklstring(L, 2, &sn);
    sb_buf b;
    int r;

    sb_buf_init(&b, 0);
    r = sb_jwt_sign(&b, claims, cn, secret, sn);
    if (r) {
        sb_buf_free(&b);
        lua_pushnil(L);
        lua_pushstring(L, r == SB_TOKEN_ENOMEM ? "out of memory"
                                               : "cannot compute HMAC");
        return 2;
    }
    lua_pushlstring(L, (const char *)sb_buf_data(&b), b.len);
    sb_buf_free(&b);
    return 1;
}

/* core.jwt_verify(token, secret) -> claims_json | nil, err.  The buffer
 * is freed before any Lua call that could raise, so nothing leaks. */
static int sb_lua_jwt_verify(lua_State *L)
{
    size_t tn, sn;
    const char *token = luaL_checklstring(L, 1, &tn);
    const char *secret = luaL_checklstring(L, 2, &sn);
    const char *why = "malformed token";
    sb_buf b;
    int r;

    sb_buf_init(&b, 0);
    r = sb_jwt_verify(token, tn, secret, sn, &b, &why);
    if (r) {
        sb_buf_free(&b);
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    luaL_checkstack(L, 1, NULL);
    lua_pushlstring(L, (const char *)sb_buf_data(&b), b.len);
    sb_buf_free(&b);
    return 1;
}

void sb_lua_token_open(lua_State *L)
{
    lua_pushcfunction(L, sb_lua_jwt_sign);
    lua_setfield(L, -2, "jwt_sign");
    lua_pushcfunction(L, sb_lua_jwt_verify);
    lua_setfield(L, -2, "jwt_verify");
}
