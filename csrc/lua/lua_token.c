/* core.jwt_sign / core.jwt_verify: the C half of switchboard.token.  Lua
 * turns claims into JSON and checks exp/nbf; C does the base64url, the
 * HMAC, the constant-time compare and the alg check (token.c). */
#include "lua_bindings.h"
#include "codec/md5.h"
#include "codec/token.h"

#include <string.h>

#include <openssl/crypto.h>

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

/* core.hmac_sha256_hex(key, message) -> lowercase hex | nil, err: the
 * signature of a webhook body (docs/webhooks.md#signatures). */
static int sb_lua_hmac_sha256_hex(lua_State *L)
{
    static const char hex[] = "0123456789abcdef";
    size_t kn, mn, i;
    const char *key = luaL_checklstring(L, 1, &kn);
    const char *msg = luaL_checklstring(L, 2, &mn);
    unsigned char mac[SB_HMAC_SHA256_LEN];
    char out[2 * SB_HMAC_SHA256_LEN];

    if (sb_hmac_sha256(key, kn, msg, mn, mac)) {
        lua_pushnil(L);
        lua_pushliteral(L, "cannot compute HMAC");
        return 2;
    }
    for (i = 0; i < SB_HMAC_SHA256_LEN; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    lua_pushlstring(L, out, sizeof out);
    return 1;
}

/* core.equal_secret(a, b) -> boolean, in time that depends on the
 * lengths only (API keys, signatures: a byte-by-byte compare that stops
 * early tells an attacker how much of a guess was right). */
static int sb_lua_equal_secret(lua_State *L)
{
    size_t an, bn;
    const char *a = luaL_checklstring(L, 1, &an);
    const char *b = luaL_checklstring(L, 2, &bn);

    lua_pushboolean(L, an == bn && CRYPTO_memcmp(a, b, an) == 0);
    return 1;
}

/* core.md5_hex(s) -> lowercase hex | nil, err: the body_md5 of a Pusher
 * HTTP API request (docs/pusher-http.md#signing). */
static int sb_lua_md5_hex(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char out[SB_MD5_HEX_LEN + 1];

    if (sb_md5_hex(s, n, out)) {
        lua_pushnil(L);
        lua_pushliteral(L, "cannot compute MD5");
        return 2;
    }
    lua_pushlstring(L, out, SB_MD5_HEX_LEN);
    return 1;
}

void sb_lua_token_open(lua_State *L)
{
    lua_pushcfunction(L, sb_lua_md5_hex);
    lua_setfield(L, -2, "md5_hex");
    lua_pushcfunction(L, sb_lua_hmac_sha256_hex);
    lua_setfield(L, -2, "hmac_sha256_hex");
    lua_pushcfunction(L, sb_lua_equal_secret);
    lua_setfield(L, -2, "equal_secret");
    lua_pushcfunction(L, sb_lua_jwt_sign);
    lua_setfield(L, -2, "jwt_sign");
    lua_pushcfunction(L, sb_lua_jwt_verify);
    lua_setfield(L, -2, "jwt_verify");
}
