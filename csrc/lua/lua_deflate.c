/* Internal, for the specs only (not part of the API, may change):
 * core._deflate_raw(s) and core._inflate_raw(s [, max]) let a raw Lua
 * client speak permessage-deflate (net/deflate.h) to the server -- send
 * compressed messages it could not otherwise make, read the compressed
 * frames the server sends.  Both use the RFC 7692 framing: raw deflate,
 * the trailing 00 00 ff ff of a sync flush stripped. */
#include "lua_bindings.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "net/deflate.h"

/* core._deflate_raw(s) -> compressed string (nil, err when zlib failed). */
static int sb_lua_deflate_raw(lua_State *L)
{
    size_t n, cap;
    const char *s = luaL_checklstring(L, 1, &n);
    z_stream z;
    unsigned char *out;
    int ok;

    memset(&z, 0, sizeof z);
    if (n > INT_MAX / 2 ||
        deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return luaL_error(L, "_deflate_raw: cannot start zlib");
    cap = deflateBound(&z, (uLong)n) + 16;
    if (!(out = malloc(cap))) {
        deflateEnd(&z);
        return luaL_error(L, "_deflate_raw: out of memory");
    }
    z.next_in = (unsigned char *)(size_t)s;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ok = deflate(&z, Z_SYNC_FLUSH) == Z_OK && z.avail_in == 0 && z.total_out >= 4;
    if (ok)
        lua_pushlstring(L, (const char *)out, z.total_out - 4);
    free(out);
    deflateEnd(&z);
    if (!ok)
        return luaL_error(L, "_deflate_raw: deflate failed");
    return 1;
}

/* core._inflate_raw(s [, max]) -> string, or nil and the close code the
 * server would send (1007, 1009, 1011) and its reason. */
static int sb_lua_inflate_raw(lua_State *L)
{
    size_t n, max = (size_t)luaL_optnumber(L, 2, 64 * 1024 * 1024);
    const char *s = luaL_checklstring(L, 1, &n), *why = "";
    sb_pmd z = { NULL, NULL };
    sb_buf out;
    int rc;

    sb_buf_init(&out, 0);
    rc = sb_pmd_inflate(&z, (const unsigned char *)s, n, max, &out, &why);
    sb_pmd_free(&z);
    if (rc) {
        sb_buf_free(&out);
        lua_pushnil(L);
        lua_pushinteger(L, rc);
        lua_pushstring(L, why);
        return 3;
    }
    lua_pushlstring(L, (const char *)sb_buf_data(&out), out.len);
    sb_buf_free(&out);
    return 1;
}

void sb_lua_deflate_open(lua_State *L)
{
    lua_pushcfunction(L, sb_lua_deflate_raw);
    lua_setfield(L, -2, "_deflate_raw");
    lua_pushcfunction(L, sb_lua_inflate_raw);
    lua_setfield(L, -2, "_inflate_raw");
}
