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

return M
