--- Helpers shared by the specs: drive the loop until a condition holds (or
-- a deadline passes), and a raw WebSocket client that records every frame
-- exactly as it arrived.
local sb = require "switchboard"
local json = require "switchboard.json"

local M = {}

--- Steps the loop until cond() is truthy or `timeout` seconds (default 5)
-- have passed; returns cond()'s last value, so a spec fails instead of
-- hanging.  The one bounded wait every spec helper uses.
function M.wait_for(cond, timeout)
    local deadline = sb.now_ms() + (timeout or 5) * 1000
    local v = cond()
    while not v and sb.now_ms() < deadline do
        sb.step(0.01)
        v = cond()
    end
    return v
end

--- wait_for as a boolean, for assert.is_true(wait_until(...)).
function M.wait_until(cond, timeout)
    return M.wait_for(cond, timeout) and true or false
end

--- Steps the loop for `seconds`, for checks that something does NOT happen.
function M.settle(seconds)
    local deadline = sb.now_ms() + (seconds or 0.1) * 1000
    while sb.now_ms() < deadline do
        sb.step(0.01)
    end
end

local Raw = {}
Raw.__index = Raw

--- A raw client on `url`: frames (decoded JSON where possible) land in
-- self.frames, the raw text in self.texts.
function M.raw(url, opts)
    local client = require "switchboard.client"
    local target = assert(client.parse_url(url))
    opts = opts or {}
    target.protocols = opts.protocols
    target.origin = opts.origin
    local self = setmetatable({ frames = {}, texts = {}, binary = {}, opened = false }, Raw)
    local ws, err = sb.core.ws_connect(sb.loop(), target, {
        open = function() self.opened = true end,
        message = function(data, is_binary)
            if is_binary then
                self.binary[#self.binary + 1] = data
                return
            end
            self.texts[#self.texts + 1] = data
            self.frames[#self.frames + 1] = json.decode(data) or data
        end,
        error = function(msg) self.error = msg end,
        close = function(code, reason) self.closed = { code = code, reason = reason } end,
    })
    assert(ws, err)
    self.ws = ws
    return self
end

function Raw:wait_open(timeout)
    return M.wait_until(function() return self.opened or self.closed end, timeout) and self.opened
end

function Raw:send(text, binary)
    return self.ws:send(text, binary)
end

function Raw:close(code, reason)
    self.ws:close(code, reason)
end

--- Waits until at least n frames arrived; returns the frames.
function Raw:wait_frames(n, timeout)
    M.wait_until(function() return #self.frames >= n end, timeout)
    return self.frames
end

function Raw:wait_closed(timeout)
    M.wait_until(function() return self.closed ~= nil end, timeout)
    return self.closed
end

--- Frames whose top-level `type` is t.
function Raw:of_type(t)
    local out = {}
    for _, f in ipairs(self.frames) do
        if type(f) == "table" and f.type == t then
            out[#out + 1] = f
        end
    end
    return out
end

--- The keys of a table, sorted, joined with ",": compares key sets.
function M.keys(t)
    local k = {}
    for key in pairs(t) do
        k[#k + 1] = key
    end
    table.sort(k)
    return table.concat(k, ",")
end

--- Sends a raw HTTP request and returns the status code, the headers text
-- and the body; the server runs on this loop, so it steps while reading.
-- A response is complete at its Content-Length or when the server closes.
function M.http(port, request)
    local socket = require "socket"
    local c = assert(socket.tcp())
    c:settimeout(0)
    c:connect("127.0.0.1", port)
    M.wait_until(function()
        local _, w = socket.select(nil, { c }, 0)
        return #w > 0
    end, 2)
    c:send(request)
    local text = ""
    M.wait_until(function()
        local data, err, partial = c:receive(8192)
        text = text .. (data or partial or "")
        if err == "closed" then
            return true
        end
        local head, body = text:match("^(.-\r\n)\r\n(.*)$")
        local len = head and tonumber(head:lower():match("content%-length: *(%d+)"))
        return len ~= nil and #body >= len
    end, 3)
    c:close()
    local head, body = text:match("^(.-\r\n)\r\n(.*)$")
    return tonumber(text:match("^HTTP/1%.%d (%d+)")), head or text, body or ""
end

return M
