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

--- Decodes JSON text; returns nil, err on malformed input.
function M.decode(s)
    local ok, v = pcall(json.decode, s)
    if not ok then
        return nil, v
    end
    return v
end

return M
