--- switchboard.util: the few helpers several modules share.  Internal:
-- not part of the API, and free to change.
local M = {}

--- A methods table that is also the metatable of its objects, named for
-- error messages and tostring.
function M.class(name)
    local c = { __name = name }
    c.__index = c
    return c
end

--- Percent-encodes all but RFC 3986's unreserved characters.
function M.urlencode(s)
    return (tostring(s):gsub("[^%w%-%._~]", function(c)
        return ("%%%02X"):format(c:byte())
    end))
end

--- Splits "<plain or secure>://host[:port][/path?query]" (for http and
-- https, or ws and wss) into { host =, port =, path =, tls = } (an IPv6
-- host without its brackets), or nil, err.
function M.split_url(url, plain, secure)
    local scheme, rest = tostring(url):match("^(%a+)://(.+)$")
    if scheme ~= plain and scheme ~= secure then
        return nil, ("URL must start with %s:// or %s://"):format(plain, secure)
    end
    local authority, path = rest:match("^([^/?#]*)(.*)$")
    local host, port = authority:match("^%[(.+)%]:?(%d*)$")
    if not host then
        host, port = authority:match("^([^:]+):?(%d*)$")
    end
    if not host or host == "" then
        return nil, "URL has no host"
    end
    if port ~= "" and (tonumber(port) < 1 or tonumber(port) > 65535) then
        return nil, "URL port must be 1..65535"
    end
    if path == "" or path:sub(1, 1) == "?" then
        path = "/" .. path
    end
    local tls = scheme == secure
    return { host = host, port = tonumber(port) or (tls and 443 or 80), path = path, tls = tls }
end

--- The same for "http(s)://...".
function M.parse_http_url(url)
    return M.split_url(url, "http", "https")
end

-- The log option's levels as lws's LLL_* bits (ERR 1, WARN 2, NOTICE 4,
-- INFO 8, DEBUG 16); each level passes the ones above it.
local LOG_MASKS = { off = 0, error = 1, warn = 3, info = 15, debug = 31 }

--- Applies a log option (sb.listen, sb.connect) to the loop: a level name,
-- false for "off", or a function(level, line) that hears error, warn and
-- info lines.  nil leaves the loop as it is.  Raises on anything else.
function M.apply_log(loop, log, who)
    if log == nil then
        return
    end
    if log == false then
        loop:set_log(0)
    elseif type(log) == "function" then
        loop:set_log(LOG_MASKS.info, log)
    elseif type(log) == "string" and LOG_MASKS[log] then
        loop:set_log(LOG_MASKS[log])
    else
        error(who .. ': log must be "error", "warn", "info", "debug", "off", false or a function(level, line)', 3)
    end
end

return M
