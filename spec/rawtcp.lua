--- Raw TCP peers for the limit specs: a socket that sends exactly what the
-- spec says (slowloris, oversize heads), and a bare WebSocket client that
-- answers nothing by itself (no automatic pong), so the server's ping and
-- idle handling can be watched frame by frame.  Never blocks: the server
-- runs on this loop, so every wait steps it.
local socket = require "socket"
local support = require "support"

local M = {}

-- pump, wait and close come from support.Stream; parse reads frames
local Peer = setmetatable({}, { __index = support.Stream })
Peer.__index = Peer

--- A connected, non-blocking TCP socket to 127.0.0.1:port.
function M.connect(port, opts)
    local s = assert(socket.tcp4())
    if opts and opts.rcvbuf then
        -- a small receive buffer: the window shuts after a few KiB
        assert(s:setoption("recv-buffer-size", opts.rcvbuf))
    end
    s:settimeout(2)
    assert(s:connect("127.0.0.1", port))
    s:settimeout(0)
    return setmetatable({ sock = s, raw = "", frames = {}, closed = false }, Peer)
end

--- Sends all of data (stepping the loop while the socket is full); false
-- once the server has closed the connection.
function Peer:send(data)
    if support.send_all(self.sock, data) then
        return true
    end
    self.closed = true
    return false
end

function Peer:wait_closed(timeout)
    return self:wait(function(p) return p.closed end, timeout)
end

--- The HTTP status of the response received so far, or nil.
function Peer:status()
    return tonumber(self.raw:match("^HTTP/1%.%d (%d+)"))
end

local UPGRADE = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    .. "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    .. "Sec-WebSocket-Version: 13\r\n\r\n"

--- A bare WebSocket client on path: frames land in self.frames as
-- { op = opcode, data = payload }; nothing is answered unless the spec
-- does it (Peer:pong, Peer:send_text).
function M.websocket(port, path, opts)
    local p = M.connect(port, opts)
    p:send(UPGRADE:format(path))
    p.ws = true
    p:wait(function(x) return x.upgraded or x.closed end, 3)
    return p
end

-- Unmasked server frames (RFC 6455 5.2); lengths up to 64 bits.  A plain
-- TCP peer (not M.websocket) keeps what it read as it is, in self.raw.
function Peer:parse()
    if not self.ws then
        return
    end
    if not self.upgraded then
        local head_end = self.raw:find("\r\n\r\n", 1, true)
        if not head_end then
            return
        end
        self.upgraded = self:status() == 101
        self.raw = self.raw:sub(head_end + 4)
    end
    while #self.raw >= 2 do
        local b1, b2 = self.raw:byte(1, 2)
        local len, off = b2 % 128, 3
        if len == 126 then
            if #self.raw < 4 then return end
            len, off = self.raw:byte(3) * 256 + self.raw:byte(4), 5
        elseif len == 127 then
            if #self.raw < 10 then return end
            len = 0
            for i = 3, 10 do
                len = len * 256 + self.raw:byte(i)
            end
            off = 11
        end
        if #self.raw < off + len - 1 then
            return
        end
        self.frames[#self.frames + 1] = { op = b1 % 16, data = self.raw:sub(off, off + len - 1) }
        self.raw = self.raw:sub(off + len)
    end
end

--- Frames of one opcode (1 text, 8 close, 9 ping, 10 pong).
function Peer:of_op(op)
    local out = {}
    for _, f in ipairs(self.frames) do
        if f.op == op then
            out[#out + 1] = f
        end
    end
    return out
end

-- A masked client frame (the mask is all zero: the payload is unchanged).
local function client_frame(op, payload)
    local n = #payload
    local head
    if n < 126 then
        head = string.char(128 + op, 128 + n)
    elseif n < 65536 then
        head = string.char(128 + op, 128 + 126, math.floor(n / 256), n % 256)
    else
        head = string.char(128 + op, 128 + 127, 0, 0, 0, 0,
            math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    end
    return head .. "\0\0\0\0" .. payload
end

M.client_frame = client_frame

--- A bare WebSocket client whose upgrade request and first bytes after it
-- (`after`, e.g. a frame) go out in one write, before any answer.
function M.websocket_with(port, path, after)
    local p = M.connect(port)
    p.ws = true
    p:send(UPGRADE:format(path) .. after)
    return p
end

function Peer:send_text(text)
    return self:send(client_frame(1, text))
end

function Peer:pong(data)
    return self:send(client_frame(10, data or ""))
end

return M
