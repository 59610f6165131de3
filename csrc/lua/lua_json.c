/* JSON text to Lua values, for bindings handing Lua what a codec already
 * decoded (lua_server.c) and for core.json_decode.  The scanner of
 * codec/json.h validates; this walks text known to be valid, so it only
 * builds, in one pass.  The values match lua/switchboard/json.lua's
 * decode: plain tables (arrays from 1; an empty array carries the array
 * metatable, so it encodes as [] again),
 * lua-cjson's null (a NULL light userdata, the same in every cjson
 * instance), and integral numbers as integers on 5.3+.
 *
 * Unescaped strings go through a scratch sb_buf owned by a userdata with
 * a __gc, so an error (out of memory) while building never leaks it. */
#include "lua_bindings.h"
#include "codec/json.h"

#include <math.h>
#include <stdlib.h>

#define SB_JSON_SCRATCH_MT "switchboard.json_scratch"
#define SB_ARRAY_MT "switchboard.array"

void sb_lua_mark_array(lua_State *L, int idx)
{
    idx = sb_lua_absindex(L, idx);
    luaL_getmetatable(L, SB_ARRAY_MT);
    lua_setmetatable(L, idx);
}

typedef struct sb_json_walk {
    const char *s;
    size_t n;
    size_t pos;
    sb_buf *scratch;
} sb_json_walk;

static int sb_json_scratch_gc(lua_State *L)
{
    sb_buf_free(luaL_checkudata(L, 1, SB_JSON_SCRATCH_MT));
    return 0;
}

static void sb_json_skip_ws(sb_json_walk *w)
{
    while (w->pos < w->n && (w->s[w->pos] == ' ' || w->s[w->pos] == '\t' ||
                             w->s[w->pos] == '\n' || w->s[w->pos] == '\r'))
        w->pos++;
}

static int sb_json_bad(lua_State *L, const sb_json_walk *w)
{
    return luaL_error(L, "invalid JSON at byte %d", (int)w->pos);
}

/* Pushes the string token at w->pos (its quotes included) and moves past. */
static void sb_json_push_string(lua_State *L, sb_json_walk *w)
{
    size_t start = w->pos, i = w->pos + 1;
    sb_span plain;

    while (i < w->n && w->s[i] != '"')
        i += w->s[i] == '\\' ? 2 : 1;
    if (i >= w->n)
        sb_json_bad(L, w);
    w->pos = i + 1;
    if (sb_json_string_plain(w->s + start, w->pos - start, &plain)) {
        lua_pushlstring(L, plain.p, plain.n);
        return;
    }
    sb_buf_reset(w->scratch);
    if (sb_json_unescape(w->s + start, w->pos - start, w->scratch))
        luaL_error(L, w->scratch->oom ? "out of memory" : "invalid JSON string");
    lua_pushlstring(L, (const char *)sb_buf_data(w->scratch), w->scratch->len);
}

/* Every number is read as a double, as lua-cjson does, then becomes an
 * integer where it is integral and fits, like json.lua's pass over
 * cjson's floats (so 9007199254740993 is 9007199254740992 on both paths);
 * 5.1 and LuaJIT have one number type. */
static void sb_json_push_double(lua_State *L, double d)
{
#if LUA_VERSION_NUM >= 503
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        lua_pushinteger(L, (lua_Integer)d);
        return;
    }
#endif
    lua_pushnumber(L, d);
}

static void sb_json_push_number(lua_State *L, sb_json_walk *w)
{
    size_t start = w->pos;
    double d;
    char c;

    while (w->pos < w->n && ((c = w->s[w->pos]) == '-' || c == '+' || c == '.' ||
                             c == 'e' || c == 'E' || (c >= '0' && c <= '9')))
        w->pos++;
    if (sb_json_double(w->s + start, w->pos - start, &d) == 0) {
        sb_json_push_double(L, d);
        return;
    }
    /* longer than sb_json_double takes: strtod on a NUL-ended copy */
    sb_buf_reset(w->scratch);
    sb_buf_add(w->scratch, w->s + start, w->pos - start);
    sb_buf_addc(w->scratch, '\0');
    if (w->scratch->oom)
        luaL_error(L, "out of memory");
    if (w->pos == start)
        sb_json_bad(L, w);
    sb_json_push_double(L, strtod((const char *)sb_buf_data(w->scratch), NULL));
}

/* Moves past the literal lit (of len bytes) or raises. */
static void sb_json_literal(lua_State *L, sb_json_walk *w, const char *lit, size_t len)
{
    size_t k;

    for (k = 0; k < len; k++)
        if (w->pos + k >= w->n || w->s[w->pos + k] != lit[k])
            sb_json_bad(L, w);
    w->pos += len;
}

/* After a member or element: 1 if another follows, 0 at the closing
 * byte (consumed). */
static int sb_json_next(lua_State *L, sb_json_walk *w, char close)
{
    sb_json_skip_ws(w);
    if (w->pos < w->n && w->s[w->pos] == ',') {
        w->pos++;
        return 1;
    }
    if (w->pos < w->n && w->s[w->pos] == close) {
        w->pos++;
        return 0;
    }
    return sb_json_bad(L, w);
}

static void sb_json_push_value(lua_State *L, sb_json_walk *w, int depth);

static void sb_json_push_array(lua_State *L, sb_json_walk *w, int depth)
{
    lua_Integer i = 0;

    lua_newtable(L);
    w->pos++;
    sb_json_skip_ws(w);
    if (w->pos < w->n && w->s[w->pos] == ']') {
        w->pos++;
        sb_lua_mark_array(L, -1);
        return;
    }
    do {
        sb_json_push_value(L, w, depth + 1);
        lua_rawseti(L, -2, (int)++i);
    } while (sb_json_next(L, w, ']'));
}

static void sb_json_push_object(lua_State *L, sb_json_walk *w, int depth)
{
    lua_newtable(L);
    w->pos++;
    sb_json_skip_ws(w);
    if (w->pos < w->n && w->s[w->pos] == '}') {
        w->pos++;
        return;
    }
    do {
        sb_json_skip_ws(w);
        if (w->pos >= w->n || w->s[w->pos] != '"')
            sb_json_bad(L, w);
        sb_json_push_string(L, w);
        sb_json_skip_ws(w);
        if (w->pos >= w->n || w->s[w->pos] != ':')
            sb_json_bad(L, w);
        w->pos++;
        sb_json_push_value(L, w, depth + 1);
        lua_rawset(L, -3);
    } while (sb_json_next(L, w, '}'));
}

/* Recursion is bounded by the depth the text was validated with; the
 * check only keeps text that was not validated from growing the C stack. */
static void sb_json_push_value(lua_State *L, sb_json_walk *w, int depth)
{
    if (depth > SB_JSON_MAX_DEPTH)
        luaL_error(L, "JSON nested too deeply");
    luaL_checkstack(L, 3, "JSON nested too deeply");
    sb_json_skip_ws(w);
    if (w->pos >= w->n)
        sb_json_bad(L, w);
    switch (w->s[w->pos]) {
    case '{': sb_json_push_object(L, w, depth); break;
    case '[': sb_json_push_array(L, w, depth); break;
    case '"': sb_json_push_string(L, w); break;
    case 't': sb_json_literal(L, w, "true", 4); lua_pushboolean(L, 1); break;
    case 'f': sb_json_literal(L, w, "false", 5); lua_pushboolean(L, 0); break;
    case 'n': sb_json_literal(L, w, "null", 4); lua_pushlightuserdata(L, NULL); break;
    default: sb_json_push_number(L, w); break;
    }
}

void sb_lua_push_json(lua_State *L, const char *s, size_t n)
{
    sb_json_walk w;

    w.s = s;
    w.n = n;
    w.pos = 0;
    w.scratch = lua_newuserdata(L, sizeof *w.scratch);
    sb_buf_init(w.scratch, 0);
    luaL_getmetatable(L, SB_JSON_SCRATCH_MT);
    lua_setmetatable(L, -2);
    sb_json_push_value(L, &w, 0);
    sb_json_skip_ws(&w);
    if (w.pos != n)
        sb_json_bad(L, &w);
    sb_buf_free(w.scratch);
    lua_remove(L, -2);
}

/* core.json_decode(s) -> value | nil, err: the C decoder for Lua text,
 * validating first (the specs hold it to json.lua's results). */
static int sb_lua_json_decode(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    sb_json_err e;

    if (sb_json_check(s, n, SB_LUA_JSON_DEPTH, &e)) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s at byte %d", e.msg ? e.msg : "invalid JSON", (int)e.pos);
        return 2;
    }
    sb_lua_push_json(L, s, n);
    return 1;
}

void sb_lua_json_open(lua_State *L)
{
    static const luaL_Reg meta[] = { { "__gc", sb_json_scratch_gc }, { NULL, NULL } };
    static const luaL_Reg methods[] = { { NULL, NULL } };

    sb_lua_newclass(L, SB_JSON_SCRATCH_MT, meta, methods);
    lua_pushcfunction(L, sb_lua_json_decode);
    lua_setfield(L, -2, "json_decode");
    luaL_newmetatable(L, SB_ARRAY_MT);
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__jsontype");
    lua_setfield(L, -2, "array_mt");
}
