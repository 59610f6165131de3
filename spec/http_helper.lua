--- Raw HTTP for the specs: LuaSocket connections that never block, so the
-- in-process server keeps running (the loop is stepped between reads).
-- Decodes chunked bodies and parses SSE blocks, so specs see the wire.
local socket = require "socket"
local cjson = require "cjson"
local support = require "support"

local M = {}

--- Steps the loop until cond() is true or `timeout` seconds (default 5)
-- pass; returns whether it did (support.wait_until).
M.wait = support.wait_until

-- pump, wait and close come from support.Stream; parse reads the response
local Conn = setmetatable({}, { __index = support.Stream })
Conn.__index = Conn

--- Opens a connection and sends one request.  headers: { name = value }.
function M.open(port, method, path, headers, body)
    local s = assert(socket.tcp())
    s:settimeout(2)
    assert(s:connect("127.0.0.1", port))
    s:settimeout(0)
    local lines = { ("%s %s HTTP/1.1"):format(method, path), "Host: 127.0.0.1:" .. port }
    for k, v in pairs(headers or {}) do
        lines[#lines + 1] = k .. ": " .. v
    end
    if body then
        lines[#lines + 1] = "Content-Length: " .. #body
    end
    local req = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
    local ok, err = support.send_all(s, req)
    if not ok then
        error("send: " .. err)
    end
    return setmetatable({ sock = s, raw = "", body = "", chunks = 0 }, Conn)
end

--- Takes the head off self.raw, then the body as far as it has arrived
-- (chunked or by Content-Length) into self.body; self.ended at its end.
function Conn:parse()
    if not self.status then
        local head_end = self.raw:find("\r\n\r\n", 1, true)
        if not head_end then
            return
        end
        local head = self.raw:sub(1, head_end - 1)
        self.raw = self.raw:sub(head_end + 4)
        self.status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
        self.headers = {}
        for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
            self.headers[k:lower()] = v
        end
        self.chunked = self.headers["transfer-encoding"] == "chunked"
        self.length = tonumber(self.headers["content-length"])
    end
    if self.chunked then
        while not self.ended do
            local line_end = self.raw:find("\r\n", 1, true)
            if not line_end then
                return
            end
            local size = assert(tonumber(self.raw:sub(1, line_end - 1), 16), "bad chunk size")
            if #self.raw < line_end + 1 + size + 2 then
                return
            end
            assert(self.raw:sub(line_end + 2 + size, line_end + 3 + size) == "\r\n", "bad chunk end")
            self.body = self.body .. self.raw:sub(line_end + 2, line_end + 1 + size)
            self.chunks = self.chunks + 1
            self.raw = self.raw:sub(line_end + 4 + size)
            self.ended = size == 0
        end
    else
        self.body = self.body .. self.raw
        self.raw = ""
        self.ended = self.length ~= nil and #self.body >= self.length
    end
end

--- Complete SSE blocks received so far: { id=, event=, data=, retry=, comment= }.
function Conn:events()
    local list = {}
    for block in self.body:gmatch("(.-)\n\n") do
        local ev = {}
        for line in (block .. "\n"):gmatch("(.-)\n") do
            if line:sub(1, 1) == ":" then
                ev.comment = true
            else
                local k, v = line:match("^([^:]*):?(.*)$")
                if k == "data" then
                    ev.data = ev.data and (ev.data .. "\n" .. v) or v
                else
                    ev[k] = v
                end
            end
        end
        list[#list + 1] = ev
    end
    return list
end

--- Events that carry data (what EventSource would dispatch).
function Conn:messages()
    local list = {}
    for _, ev in ipairs(self:events()) do
        if ev.data then
            list[#list + 1] = ev
        end
    end
    return list
end

--- The `n` of each event's JSON data, in order: the specs publish
-- { n = 1 }, { n = 2 }, ... and compare what a stream got.
function M.ns(events)
    local out = {}
    for i, ev in ipairs(events) do
        out[i] = cjson.decode(ev.data).n
    end
    return out
end

--- One request, waits for the whole response; .json is the decoded body.
function M.request(port, method, path, headers, body, timeout)
    local c = M.open(port, method, path, headers, body)
    c:wait(function(x) return x.ended or x.closed end, timeout or 5)
    c:close()
    if c.headers and (c.headers["content-type"] or ""):find("json", 1, true) then
        c.json = cjson.decode(c.body)
    end
    return c
end

return M
