--- A webhook receiver for the specs (not a spec itself): an HTTP/1.1
-- server on a LuaSocket socket that never blocks, read by a timer on the
-- switchboard loop, so the server under test and the sink run in one
-- process.  It records every request and answers with the status its
-- `status` field gives (a number, or a function(request, n) -> number,
-- or false: no answer at all, to test timeouts).
local sb = require "switchboard"
local socket = require "socket"
local cjson = require "cjson"

local M = {}

local Sink = {}
Sink.__index = Sink

-- One request off the front of c.buf, or nil while incomplete.
local function parse(c)
    local head_end = c.buf:find("\r\n\r\n", 1, true)
    if not head_end then
        return nil
    end
    local head = c.buf:sub(1, head_end - 1)
    local method, path = head:match("^(%u+) (%S+) HTTP/1%.1")
    local headers = {}
    for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
        headers[k:lower()] = v
    end
    local len = tonumber(headers["content-length"] or "0")
    if #c.buf < head_end + 3 + len then
        return nil
    end
    local body = c.buf:sub(head_end + 4, head_end + 3 + len)
    c.buf = c.buf:sub(head_end + 4 + len)
    local ok, decoded = pcall(cjson.decode, body)
    return { method = method, path = path, headers = headers, body = body,
        json = ok and decoded or nil }
end

function Sink:answer(c, req)
    self.requests[#self.requests + 1] = req
    local status = self.status
    if type(status) == "function" then
        status = status(req, #self.requests)
    end
    if status == false then
        c.mute = true
        return
    end
    c.sock:send(("HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        :format(status or 200))
    c.sock:close()
    c.done = true
end

--- Accepts and reads whatever has arrived; called by the sink's timer.
function Sink:pump()
    while true do
        local s = self.server:accept()
        if not s then
            break
        end
        s:settimeout(0)
        self.conns[#self.conns + 1] = { sock = s, buf = "" }
    end
    for i = #self.conns, 1, -1 do
        local c = self.conns[i]
        if not c.done and not c.mute then
            local data, err, partial = c.sock:receive(65536)
            c.buf = c.buf .. (data or partial or "")
            local req = parse(c)
            if req then
                self:answer(c, req)
            elseif err == "closed" then
                c.sock:close()
                c.done = true
            end
        end
        if c.done then
            table.remove(self.conns, i)
        end
    end
end

--- Every event of every request so far, in order.
function Sink:events()
    local list = {}
    for _, r in ipairs(self.requests) do
        for _, ev in ipairs(r.json and r.json.events or {}) do
            list[#list + 1] = ev
        end
    end
    return list
end

--- The events so far named `name`.
function Sink:named(name)
    local list = {}
    for _, ev in ipairs(self:events()) do
        if ev.name == name then
            list[#list + 1] = ev
        end
    end
    return list
end

function Sink:close()
    self.timer:cancel()
    for _, c in ipairs(self.conns) do
        c.sock:close()
    end
    self.server:close()
end

--- A sink on a free loopback port: .url is where to POST.
function M.new(path)
    local server = assert(socket.bind("127.0.0.1", 0))
    server:settimeout(0)
    local _, port = server:getsockname()
    local self = setmetatable({ server = server, conns = {}, requests = {}, status = 200,
        port = tonumber(port) }, Sink)
    self.url = ("http://127.0.0.1:%d%s"):format(self.port, path or "/hooks")
    self.timer = sb.every(0.005, function() self:pump() end)
    return self
end

return M
