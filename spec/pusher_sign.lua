--- Signs Pusher HTTP API requests for the specs (not a spec itself), as
-- Pusher's server libraries do (docs/pusher-http.md#signing): used by
-- spec/pusher_api_spec.lua and spec/redis_api_spec.lua.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"

local core = sb.core
local M = {}

-- Percent-encodes a query value (lws decodes it before the signature
-- is checked, as Pusher's libraries sign the decoded form).
local function esc(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

--- The signed path?query of a request.  app: { key =, secret = }; o:
-- key, secret, timestamp, signature, body_md5 (false: none) to sign
-- otherwise than the app would.
function M.signed(app, method, path, params, body, o)
    o = o or {}
    local q = { auth_key = o.key or app.key, auth_timestamp = tostring(o.timestamp or os.time()),
        auth_version = "1.0" }
    if body and o.body_md5 ~= false then
        q.body_md5 = o.body_md5 or core.md5_hex(body)
    end
    for k, v in pairs(params or {}) do
        q[k] = v
    end
    local keys = {}
    for k in pairs(q) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    local plain, url = {}, {}
    for i, k in ipairs(keys) do
        plain[i] = k .. "=" .. q[k]
        url[i] = k .. "=" .. esc(q[k])
    end
    local sig = core.hmac_sha256_hex(o.secret or app.secret,
        method .. "\n" .. path .. "\n" .. table.concat(plain, "&"))
    return path .. "?" .. table.concat(url, "&") .. "&auth_signature=" .. (o.signature or sig)
end

--- One signed call to the app { id =, key =, secret = } on port: status,
-- decoded JSON (or nil) and the response.  sub: the path after
-- /apps/<id>; body: a table (encoded) or raw text; o: as for M.signed,
-- and app = another id.
function M.call(port, app, method, sub, params, body, o)
    if type(body) == "table" then
        body = cjson.encode(body)
    end
    local path = "/apps/" .. ((o or {}).app or app.id) .. sub
    local headers = body and { ["Content-Type"] = "application/json" } or {}
    local r = http.request(port, method, M.signed(app, method, path, params, body, o), headers, body)
    return r.status, r.json, r
end

return M
