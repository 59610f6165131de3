--- The JSON codec every switchboard module shares: one lua-cjson instance
-- with switchboard's settings (cjson.new(), so the app's own cjson
-- configuration is left alone).
local cjson = require "cjson"

local json = cjson.new()
json.encode_sparse_array(true)
json.decode_max_depth(64)
json.encode_max_depth(64)

local M = { null = json.null }

--- Encodes a Lua value; raises on values JSON cannot hold (functions...).
function M.encode(v)
    return json.encode(v)
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

--- Decodes JSON text; returns nil, err on malformed input.
function M.decode(s)
    local ok, v = pcall(json.decode, s)
    if not ok then
        return nil, v
    end
    if tointeger then
        v = integers(v)
    end
    return v
end

return M
