--- Signed tokens: HS256 JSON Web Tokens for connect and join hooks.
--   local tok = sb.token.sign({ sub = "alice" }, secret, { ttl = 3600 })
--   local claims, err = sb.token.verify(tok, secret)
-- The C core does base64url, HMAC-SHA256 (OpenSSL), the constant-time
-- signature compare and the alg check (only HS256: "none" and every other
-- alg are refused before the signature is looked at).  This module turns
-- claims into JSON and back and checks the time claims.
-- @module switchboard.token
local core = require "switchboard.core"
local json = require "switchboard.json"

local M = {}

local function now_s()
    return math.floor(core.now_ms() / 1000)
end

local function check_secret(fname, secret)
    if type(secret) ~= "string" or secret == "" then
        error("switchboard.token." .. fname .. ": secret must be a non-empty string", 3)
    end
end

--- sign(claims, secret [, { ttl = seconds, now = epoch_seconds }]) -> token.
-- Adds iat (now) and, with ttl, exp = now + ttl; claims given explicitly
-- win over both.
function M.sign(claims, secret, opts)
    if type(claims) ~= "table" then
        error("switchboard.token.sign: claims must be a table", 2)
    end
    check_secret("sign", secret)
    if opts ~= nil and type(opts) ~= "table" then
        error("switchboard.token.sign: options must be a table", 2)
    end
    opts = opts or {}
    if opts.ttl ~= nil and (type(opts.ttl) ~= "number" or opts.ttl <= 0) then
        error("switchboard.token.sign: ttl must be a number of seconds > 0", 2)
    end
    local now = opts.now or now_s()
    local body = {}
    for k, v in pairs(claims) do
        body[k] = v
    end
    if body.iat == nil then
        body.iat = now
    end
    if body.exp == nil and opts.ttl then
        body.exp = math.floor(now + opts.ttl)
    end
    local token, err = core.jwt_sign(json.encode(body), secret)
    if not token then
        error("switchboard.token.sign: " .. err, 2)
    end
    return token
end

--- verify(token, secret [, { leeway = seconds, now = epoch_seconds }])
-- -> claims | nil, err.  Errors: "missing token", "malformed token",
-- "unsupported alg (only HS256)", "bad signature", "token expired",
-- "token not yet valid".  A wrong secret is a bad signature.
function M.verify(token, secret, opts)
    check_secret("verify", secret)
    if opts ~= nil and type(opts) ~= "table" then
        error("switchboard.token.verify: options must be a table", 2)
    end
    opts = opts or {}
    if opts.leeway ~= nil and (type(opts.leeway) ~= "number" or opts.leeway < 0) then
        error("switchboard.token.verify: leeway must be a number of seconds >= 0", 2)
    end
    if token == nil or token == "" then
        return nil, "missing token"
    end
    if type(token) ~= "string" then
        return nil, "malformed token"
    end
    local text, err = core.jwt_verify(token, secret)
    if not text then
        return nil, err
    end
    local claims = json.decode(text)
    if type(claims) ~= "table" then
        return nil, "malformed token"
    end
    local now = opts.now or now_s()
    local leeway = opts.leeway or 0
    local exp, nbf = claims.exp, claims.nbf
    if exp ~= nil and (type(exp) ~= "number" or now >= exp + leeway) then
        return nil, type(exp) == "number" and "token expired" or "malformed token"
    end
    if nbf ~= nil and (type(nbf) ~= "number" or now + leeway < nbf) then
        return nil, type(nbf) == "number" and "token not yet valid" or "malformed token"
    end
    return claims
end

return M
