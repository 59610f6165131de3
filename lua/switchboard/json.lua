--- The JSON codec every switchboard module shares: one lua-cjson instance
-- with switchboard's settings (cjson.new(), so the app's own cjson
-- configuration is left alone).
local cjson = require "cjson"

local json = cjson.new()
json.encode_sparse_array(true)
json.decode_max_depth(64)
json.encode_max_depth(64)

local M = { null = json.null }

-- lua-cjson 2.1 (Debian's) writes every empty table as {}, so a list that
-- happens to be empty would reach JavaScript as an object ("rooms":{} one
-- time, "rooms":[...] the next).  Tables with this metatable are arrays:
-- the lists switchboard's own calls return, the empty arrays its decoders
-- build, and whatever the app passes through M.array.  The C module owns
-- the metatable so that its bindings can set it too.
local ok_core, core = pcall(require, "switchboard.core")
local array_mt = ok_core and core.array_mt or { __jsontype = "array" }
M.array_mt = array_mt

--- array([t]): marks t (or a new table) as a JSON array, so that it is
-- written as [] while empty; returns it.
function M.array(t)
    return setmetatable(t or {}, array_mt)
end

-- While encoding, an empty marked table holds this one string, whose
-- encoded form is then replaced by [] (cjson writes \1 as \u0001).
local MARK = "\1switchboard.empty_array\1"
local MARK_JSON = '["\\u0001switchboard.empty_array\\u0001"]'

local function find_empty_arrays(v, out, seen)
    if seen[v] then
        return
    end
    seen[v] = true
    if next(v) == nil then
        if getmetatable(v) == array_mt then
            out[#out + 1] = v
        end
        return
    end
    for k, x in pairs(v) do
        if type(x) == "table" then
            find_empty_arrays(x, out, seen)
        end
        if type(k) == "table" then
            find_empty_arrays(k, out, seen)
        end
    end
end

local function replace_plain(s, from, to)
    local out, i = {}, 1
    while true do
        local a, b = s:find(from, i, true)
        if not a then
            break
        end
        out[#out + 1] = s:sub(i, a - 1)
        out[#out + 1] = to
        i = b + 1
    end
    out[#out + 1] = s:sub(i)
    return table.concat(out)
end

--- Encodes a Lua value; raises on values JSON cannot hold (functions...).
-- Marked empty tables (M.array) are written as [].  The walk for them
-- runs only when cjson's text has a {} in it, so payloads without empty
-- tables cost one string search.
function M.encode(v)
    local s = json.encode(v)
    if type(v) ~= "table" or not s:find("{}", 1, true) then
        return s
    end
    local empty = {}
    find_empty_arrays(v, empty, {})
    if #empty == 0 then
        return s
    end
    for _, t in ipairs(empty) do
        rawset(t, 1, MARK)
    end
    local ok, text = pcall(json.encode, v)
    for _, t in ipairs(empty) do
        rawset(t, 1, nil)
    end
    if not ok then
        error(text, 0)
    end
    return replace_plain(text, MARK_JSON, "[]")
end

-- lua-cjson 2.1 decodes every number as a float, so on Lua 5.3+ a JSON 3
-- would reach apps as 3.0 (and print as "3.0").  Integral values that fit
-- become integers again; 5.1 and LuaJIT have one number type and skip this.
local tointeger = math.tointeger
local function integers(v)
    local t = type(v)
    if t == "number" then
        return tointeger(v) or v
    elseif t == "table" then
        for k, x in pairs(v) do
            local tx = type(x)
            if tx == "number" or tx == "table" then
                v[k] = integers(x)
            end
        end
    end
    return v
end

--- Decodes JSON text; returns nil, err on malformed input.  An empty
-- array comes back marked (M.array), so it is written as [] again; cjson
-- cannot tell [] from {}, so text with a [] in it goes to the C decoder,
-- which can (and gives the same values otherwise).
function M.decode(s)
    local ok, v = pcall(json.decode, s)
    if not ok then
        return nil, v
    end
    if ok_core and type(v) == "table" and s:find("%[%s*%]") then
        return core.json_decode(s)
    end
    if tointeger then
        v = integers(v)
    end
    return v
end

return M
