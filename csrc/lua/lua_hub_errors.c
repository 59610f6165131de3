/* Hub failures as Lua results: nil, a message naming the offending value,
 * and the SB_E* code's name. */
#include "lua_hub_internal.h"

/* Pushes a quoted copy of s with control bytes escaped, for messages. */
void sb_lua_hub_push_quoted(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    size_t i;
    char esc[8];

    luaL_buffinit(L, &b);
    luaL_addchar(&b, '"');
    for (i = 0; i < n && i < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)('0' + c / 100);
            esc[2] = (char)('0' + c / 10 % 10);
            esc[3] = (char)('0' + c % 10);
            luaL_addlstring(&b, esc, 4);
        } else {
            luaL_addchar(&b, (char)c);
        }
    }
    luaL_addstring(&b, i < n ? "\"..." : "\"");
    luaL_pushresult(&b);
}

static const char *code_name(int code)
{
    switch (code) {
    case SB_ENOMEM: return "ENOMEM";
    case SB_ECHANNEL: return "ECHANNEL";
    case SB_EMEMBER: return "EMEMBER";
    case SB_ELIMIT: return "ELIMIT";
    case SB_EJOINED: return "EJOINED";
    case SB_ENOTFOUND: return "ENOTFOUND";
    case SB_EGAP: return "EGAP";
    default: return "EUNKNOWN";
    }
}

/* Returns nil, message, code for an SB_E* failure; the message names the
 * offending value (channel at chidx, member at midx; 0 = none). */
int sb_lua_hub_push_error(lua_State *L, int code, int chidx, int midx)
{
    size_t n;
    const char *s;

    lua_pushnil(L);
    if (code == SB_ECHANNEL && chidx) {
        s = lua_tolstring(L, chidx, &n);
        lua_pushliteral(L, "invalid channel name ");
        sb_lua_hub_push_quoted(L, s, n);
        lua_pushliteral(L, ": want 1..255 bytes of [A-Za-z0-9_.:@/-]");
        lua_concat(L, 3);
    } else if (code == SB_EMEMBER && midx) {
        s = lua_tolstring(L, midx, &n);
        lua_pushliteral(L, "invalid member id ");
        sb_lua_hub_push_quoted(L, s, n);
        lua_pushliteral(L, ": want 1..255 bytes, no control characters");
        lua_concat(L, 3);
    } else {
        lua_pushstring(L, sb_hub_strerror(code));
    }
    lua_pushstring(L, code_name(code));
    return 3;
}

/* Pushes true/false for 1/0 results, or the error triple. */
int sb_lua_hub_push_flag(lua_State *L, int rc, int chidx, int midx)
{
    if (rc < 0)
        return sb_lua_hub_push_error(L, rc, chidx, midx);
    lua_pushboolean(L, rc);
    return 1;
}

int sb_lua_hub_push_closed(lua_State *L)
{
    lua_pushnil(L);
    lua_pushliteral(L, "connection is closed or belongs to another hub");
    lua_pushliteral(L, "ENOTFOUND");
    return 3;
}
