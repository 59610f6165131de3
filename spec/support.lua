--- Helpers shared by the specs: drive the loop until a condition holds (or
-- a deadline passes), a raw WebSocket client that records every frame
-- exactly as it arrived, and the non-blocking socket plumbing of the
-- byte-level peers (here, rawtcp.lua, http_helper.lua).
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

--- Writes all of `bytes` on a non-blocking socket, stepping the loop while
-- the socket is full (the server on this loop must read for the write to
-- go on).  Returns true, or nil and the error: "timeout" once `timeout`
-- seconds have passed (no limit when nil), else the socket's own once the
-- server has hung up.
function M.send_all(sock, bytes, timeout)
    local i, deadline = 1, timeout and sb.now_ms() + timeout * 1000
    while i <= #bytes do
        local n, err, last = sock:send(bytes, i)
        if n then
            i = n + 1
        elseif err == "timeout" then
            i = last + 1
            if deadline and sb.now_ms() > deadline then
                return nil, "timeout"
            end
            sb.step(0.001)
        else
            return nil, err
        end
    end
    return true
end

--- The reading side of a byte-level peer (rawtcp.lua's Peer, http_helper's
-- Conn): an object with .sock, .raw (bytes not parsed yet) and .closed,
-- whose class inherits from Stream and defines :parse() for what arrived.
M.Stream = {}
M.Stream.__index = M.Stream

--- Reads what has arrived (never blocks) onto self.raw, notes when the
-- server closed, and parses.
function M.Stream:pump()
    if self.closed then
        return
    end
    local data, err, partial = self.sock:receive(65536)
    data = data or partial
    if data and #data > 0 then
        self.raw = self.raw .. data
    end
    if err == "closed" then
        self.closed = true
    end
    self:parse()
end

--- Steps and reads until cond(self) holds or timeout seconds pass;
-- returns whether it did.
function M.Stream:wait(cond, timeout)
    return M.wait_until(function()
        self:pump()
        return cond(self)
    end, timeout)
end

function M.Stream:close()
    self.sock:close()
    self.closed = true
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

--- A WebSocket client written byte by byte on a plain TCP socket, for
-- input no well-behaved library sends: any opcode, RSV bits, unmasked or
-- unfinished frames, lengths that lie, a socket cut mid-frame or one that
-- never reads.  Server frames are parsed as they arrive (pump); pings
-- are answered.  Frames it sends are masked with the all-zero key (legal,
-- and the payload stays as written, so no XOR is needed on Lua 5.1).
local Wire = {}
Wire.__index = Wire

local function be(n, bytes)
    local out = {}
    for i = bytes, 1, -1 do
        out[i] = string.char(n % 256)
        n = math.floor(n / 256)
    end
    return table.concat(out)
end

--- One client frame.  opts: fin (default true), mask (default true), rsv
-- (0..7, into bits 6..4), len (the length to declare, default #payload).
function M.ws_frame(opcode, payload, opts)
    opts = opts or {}
    payload = payload or ""
    local fin = opts.fin == false and 0 or 128
    local b1 = fin + (opts.rsv or 0) * 16 + opcode
    local n = opts.len or #payload
    local mask = opts.mask == false and 0 or 128
    local head
    if n < 126 then
        head = string.char(b1, mask + n)
    elseif n < 65536 then
        head = string.char(b1, mask + 126) .. be(n, 2)
    else
        head = string.char(b1, mask + 127) .. be(n, 8)
    end
    return head .. (mask > 0 and "\0\0\0\0" or "") .. payload
end

--- Opens `path` on 127.0.0.1:port and completes the upgrade (or records
-- the refusal in self.status).  opts.rcvbuf shrinks the receive buffer
-- before connecting (a reader that never reads fills up sooner);
-- opts.headers adds request headers.
function M.wire(port, path, opts)
    local socket = require "socket"
    opts = opts or {}
    local c = assert(socket.tcp())
    if opts.rcvbuf then
        c:setoption("recv-buffer-size", opts.rcvbuf)
    end
    c:settimeout(0)
    c:connect("127.0.0.1", port)
    local self = setmetatable({ sock = c, inbuf = "", frames = {}, texts = {}, port = port }, Wire)
    local req = { "GET " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. port, "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13" }
    for k, v in pairs(opts.headers or {}) do
        req[#req + 1] = k .. ": " .. v
    end
    M.wait_until(function()
        local _, w = socket.select(nil, { c }, 0)
        return #w > 0
    end, 2)
    self:write(table.concat(req, "\r\n") .. "\r\n\r\n")
    M.wait_until(function()
        self:pump()
        return self.status ~= nil or self.eof
    end, 3)
    return self
end

--- Writes all of `bytes` (M.send_all, at most `timeout` seconds, default
-- 10).  Returns true, or nil and the error; a socket error (the server hung
-- up) is also kept in self.write_error.
function Wire:write(bytes, timeout)
    local ok, err = M.send_all(self.sock, bytes, timeout or 10)
    if not ok and err ~= "timeout" then
        self.write_error = err
    end
    return ok, err
end

--- Sends one frame (see M.ws_frame).
function Wire:send(opcode, payload, opts)
    return self:write(M.ws_frame(opcode, payload, opts))
end

function Wire:text(s)
    return self:send(1, s)
end

-- Parses one server frame off the front of inbuf; false when incomplete.
function Wire:parse_frame()
    local b = self.inbuf
    if #b < 2 then
        return false
    end
    local b1, b2 = b:byte(1, 2)
    local n, pos = b2 % 128, 3
    if n == 126 then
        if #b < 4 then return false end
        n, pos = b:byte(3) * 256 + b:byte(4), 5
    elseif n == 127 then
        if #b < 10 then return false end
        n = 0
        for k = 3, 10 do
            n = n * 256 + b:byte(k)
        end
        pos = 11
    end
    if #b < pos + n - 1 then
        return false
    end
    local op, data = b1 % 16, b:sub(pos, pos + n - 1)
    self.inbuf = b:sub(pos + n)
    if op == 8 then
        self.closed = { code = #data >= 2 and data:byte(1) * 256 + data:byte(2) or 1005,
            reason = data:sub(3) }
    elseif op == 9 then
        self:send(10, data)
    elseif op == 1 or op == 2 then
        -- rsv: bits 6..4 of the first byte (4: RSV1, a compressed message)
        self.frames[#self.frames + 1] = { opcode = op, data = data, rsv = math.floor(b1 / 16) % 8 }
        if op == 1 then
            self.texts[#self.texts + 1] = data
        end
    end
    return true
end

--- Reads whatever has arrived (never blocks) and parses it: the upgrade
-- response first, then frames.  Sets self.eof at end of stream or reset.
function Wire:pump()
    if self.eof then
        return
    end
    while true do
        local data, err, partial = self.sock:receive(65536)
        data = data or partial
        if data and #data > 0 then
            self.inbuf = self.inbuf .. data
        end
        if err and err ~= "timeout" then
            self.eof = err
            break
        end
        if not data or #data == 0 then
            break
        end
    end
    if not self.status then
        local head, rest = self.inbuf:match("^(.-\r\n)\r\n(.*)$")
        if not head then
            return
        end
        self.status = tonumber(head:match("^HTTP/1%.%d (%d+)"))
        self.head = head
        self.inbuf = rest
    end
    while self.status == 101 and self:parse_frame() do
    end
end

--- Steps the loop (and reads) until the server's close frame or the end
-- of the stream; returns self.closed (nil if only the stream ended).
function Wire:wait_closed(timeout)
    M.wait_until(function()
        self:pump()
        return self.closed ~= nil or self.eof ~= nil
    end, timeout)
    return self.closed
end

--- Text frames decoded as JSON (the others as they are); each is decoded
-- once, so waiting on thousands of frames stays linear.
function Wire:json()
    local out = self.decoded or {}
    for i = #out + 1, #self.texts do
        local t = self.texts[i]
        out[i] = json.decode(t) or t
    end
    self.decoded = out
    return out
end

--- Drops the connection: a FIN, or with rst = true an RST (linger 0).
function Wire:kill(rst)
    if rst then
        self.sock:setoption("linger", { on = true, timeout = 0 })
    end
    self.sock:close()
    self.eof = self.eof or "killed"
end

--- The interpreter running this spec (lua5.4, lua5.1 or luajit), for
-- child processes that must load the same build of the C module: their
-- search paths are this process's, which plain `busted` (.busted) sets
-- inside the process only, not in the environment.
M.LUA = ("env LUA_PATH=%q LUA_CPATH=%q %s"):format(package.path, package.cpath,
    jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+")))

--- A file's whole content, or nil when it cannot be read (yet): the
-- output and pid files of the specs' child processes.
function M.readfile(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

--- Whether process `pid` (a number or a string; nil: false) still exists.
function M.alive(pid)
    return pid ~= nil and M.readfile("/proc/" .. pid .. "/stat") ~= nil
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
