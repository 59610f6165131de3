--- Shared helpers of the Phoenix specs: a raw WebSocket client that keeps
-- every frame it receives, and a bounded wait that drives the loop.
local sb = require "switchboard"
local json = require "switchboard.json"

local H = {}

-- The bounded waits live in spec/support.lua (one implementation).
local support = require "support"

--- Steps the loop until cond() is truthy (default 3 s); returns its value.
function H.wait(cond, timeout)
    return support.wait_for(cond, timeout or 3)
end

H.settle = support.settle

--- A raw client on path: c.frames holds { data, binary } in order;
-- c.state is "connecting", "open", "closed" or "error".
function H.raw(port, path, opts)
    opts = opts or {}
    local c = { frames = {}, state = "connecting" }
    c.ws = assert(sb.core.ws_connect(sb.loop(), {
        host = "127.0.0.1", port = port, path = path,
        origin = opts.origin, protocols = opts.protocols,
    }, {
        open = function() c.state = "open" end,
        message = function(data, binary)
            c.frames[#c.frames + 1] = { data = data, binary = binary }
        end,
        error = function(msg) c.state = "error"; c.error = msg end,
        close = function(code, reason) c.state = "closed"; c.code = code; c.reason = reason end,
    }))
    function c.send(_, data, binary)
        return c.ws:send(data, binary)
    end
    -- Waits for the n-th frame (1-based, counting from the start).
    function c.frame(_, n, timeout)
        H.wait(function() return #c.frames >= n end, timeout)
        local f = c.frames[n]
        return f and f.data, f and f.binary
    end
    -- The first frame so far that decodes to a message (a table) for
    -- which pred(msg) holds, decoded; nil when there is none (yet).
    function c.find(_, pred)
        for _, f in ipairs(c.frames) do
            local m = json.decode(f.data)
            if type(m) == "table" and pred(m) then
                return m
            end
        end
    end
    function c.close()
        c.ws:close(1000, "")
    end
    return c
end

--- Connects and waits for open; raises otherwise.
function H.open(port, path, opts)
    local c = H.raw(port, path or "/socket/websocket?vsn=2.0.0", opts)
    H.wait(function() return c.state ~= "connecting" end)
    assert(c.state == "open", "not open: " .. c.state .. " " .. tostring(c.error))
    return c
end

--- Bytes as lowercase hex, for binary frames.
function H.hex(s)
    return (s:gsub(".", function(ch) return ("%02x"):format(ch:byte()) end))
end

function H.unhex(h)
    h = h:gsub("[^%x]", "")
    return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

--- Why an npm interop spec must be skipped (node missing, or the fixture
-- in `dir` not installed), or nil when it can run.
function H.node_skip_reason(dir, package)
    -- os.execute gives true on 5.2+, 0 on 5.1 and LuaJIT
    local found = os.execute("command -v node >/dev/null 2>&1")
    if found ~= true and found ~= 0 then
        return "node is not installed"
    end
    local f = io.open(dir .. "/node_modules/" .. package .. "/package.json")
    if not f then
        return "npm fixture missing: run `make node-deps` (npm ci in " .. dir .. ")"
    end
    f:close()
    return nil
end

--- A file's whole text, or "" when it cannot be read (yet).
function H.read_all(path)
    local f = io.open(path)
    if not f then
        return ""
    end
    local s = f:read("*a")
    f:close()
    return s
end

return H
