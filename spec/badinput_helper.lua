--- The bystanders of the bad-input specs: while one client sends bad input,
-- two clients on its channel and two on another exchange a counted stream
-- of numbered messages.  finish() waits until every one of them has every
-- message of its partner, in order, exactly once -- the proof that the bad
-- input cost nobody else a message.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"

local M = {}

local Traffic = {}
Traffic.__index = Traffic

-- A sender's numbered message, as text.
local function message(tag, seq)
    return json.encode({ from = tag, seq = seq })
end

-- A WebSocket client that keeps nothing but what on_text extracts, so a
-- flood through its channel costs the spec no memory.
local function connect(server, path, on_text)
    local st = {}
    st.ws = assert(sb.core.ws_connect(sb.loop(), { host = "127.0.0.1", port = server.port, path = path }, {
        open = function() st.open = true end,
        message = function(data, binary)
            if not binary then
                on_text(data)
            end
        end,
        error = function(msg) st.error = msg end,
        close = function(code) st.closed = code end,
    }))
    return st
end

-- Native bystander: counts its partner's messages (seq numbers in order).
local function native_client(server, channel, tag, partner)
    local self = { tag = tag, partner = partner, got = {}, joined = false }
    local mark = '"from":"' .. partner .. '"'
    self.conn = connect(server, "/c/" .. channel .. "?as=" .. tag, function(text)
        self.joined = true   -- the first frame is its own join
        if text:find(mark, 1, true) then
            self.got[#self.got + 1] = json.decode(text).message.seq
        end
    end)
    self.ready = function() return self.joined end
    self.send = function(_, seq) self.conn.ws:send(message(tag, seq), false) end
    self.close = function() self.conn.ws:close(1000, "") end
    return self
end

-- Phoenix bystander: joins topic, sends "shout" (broadcast to the others).
local function phoenix_client(server, topic, tag, partner)
    local self = { tag = tag, partner = partner, got = {}, joined = false }
    local mark = '"from":"' .. partner .. '"'
    self.conn = connect(server, "/socket/websocket?vsn=2.0.0", function(text)
        if text:find('^%["1","1",') and text:find('"phx_reply"', 1, true) then
            self.joined = true
        elseif text:find('"shout"', 1, true) and text:find(mark, 1, true) then
            self.got[#self.got + 1] = json.decode(text)[5].seq
        end
    end)
    assert(support.wait_until(function() return self.conn.open end))
    self.conn.ws:send(json.encode({ "1", "1", topic, "phx_join", {} }), false)
    self.ready = function() return self.joined end
    self.send = function(_, seq)
        self.conn.ws:send(json.encode({ "1", tostring(seq + 1), topic, "shout",
            { from = tag, seq = seq } }), false)
    end
    self.close = function() self.conn.ws:close(1000, "") end
    return self
end

--- Starts the bystanders: protocol "native" (channels `same` and `other`)
-- or "phoenix" (topics of the server's "room:*" handlers, see
-- M.phoenix_server), n messages from each, a few per loop tick so the
-- stream runs alongside the bad input.
function M.traffic(server, protocol, same, other, n)
    local make = protocol == "phoenix" and phoenix_client or native_client
    local self = setmetatable({ n = n or 150, sent = 0, clients = {} }, Traffic)
    for _, ch in ipairs({ same, other }) do
        local a, b = ch:gsub("%W", "") .. "a", ch:gsub("%W", "") .. "b"
        self.clients[#self.clients + 1] = make(server, ch, a, b)
        self.clients[#self.clients + 1] = make(server, ch, b, a)
    end
    assert(support.wait_until(function()
        for _, c in ipairs(self.clients) do
            if not c.ready() then
                return false
            end
        end
        return true
    end), "bystanders did not join")
    self.timer = sb.every(0.005, function()
        for _ = 1, 3 do
            if self.sent >= self.n then
                return
            end
            self.sent = self.sent + 1
            for _, c in ipairs(self.clients) do
                c:send(self.sent)
            end
        end
    end)
    return self
end

-- "" when client c has exactly 1..n from its partner, else what is wrong.
local function verdict(c, n)
    local got = c.got
    for i = 1, n do
        if got[i] ~= i then
            return ("%s: message %d of %s is %s (%d received)"):format(
                c.tag, i, c.partner, tostring(got[i]), #got)
        end
    end
    if #got ~= n then
        return ("%s: %d messages from %s, want %d"):format(c.tag, #got, c.partner, n)
    end
    return ""
end

--- Waits until everything was sent and every bystander has all of its
-- partner's messages (or the deadline passed); returns true, or false and
-- what is missing.  Closes the bystanders.
function Traffic:finish(timeout)
    local problems
    support.wait_until(function()
        if self.sent < self.n then
            return false
        end
        problems = {}
        for _, c in ipairs(self.clients) do
            local v = verdict(c, self.n)
            if v ~= "" then
                problems[#problems + 1] = v
            end
        end
        return #problems == 0
    end, timeout or 10)
    self.timer:cancel()
    for _, c in ipairs(self.clients) do
        c.close()
    end
    if self.sent < self.n then
        return false, "only " .. self.sent .. " of " .. self.n .. " sent"
    end
    if #problems > 0 then
        return false, table.concat(problems, "; ")
    end
    return true
end

--- True when the server still takes a new native connection and relays
-- on it (after the bad input).
function M.accepts(server)
    local a = support.raw(server:url("/c/after-bad-input"))
    local b = support.raw(server:url("/c/after-bad-input"))
    local ok = support.wait_until(function() return #a.frames >= 2 and #b.frames >= 1 end)
    b:send('"still serving"')
    ok = ok and support.wait_until(function()
        local last = a.frames[#a.frames]
        return type(last) == "table" and last.message == "still serving"
    end)
    a:close()
    b:close()
    return ok
end

--- One bad-input case: runs body() while bystanders (M.traffic) exchange
-- their stream on `same` and `other`, then checks that they lost nothing
-- and that the server still takes new connections (M.accepts).  Returns
-- true, or false and what went wrong, for the spec to assert.
function M.with_traffic(server, protocol, same, other, body)
    local t = M.traffic(server, protocol, same, other)
    body()
    local ok, why = t:finish()
    if not ok then
        return false, why
    end
    if not M.accepts(server) then
        return false, "the server no longer takes new connections"
    end
    return true
end

--- A server with the Phoenix rooms the bad-input specs use: "room:*"
-- joins (tracking params.meta under params.nick when given), "shout"
-- broadcasts to the others, nothing else is handled.
function M.phoenix_server(opts)
    opts = opts or {}
    opts.port = 0
    local server = assert(sb.listen(opts))
    server:channel("room:*", {
        join = function(conn, topic, params)
            if type(params.meta) == "table" then
                server.hub:track(conn, topic, params.nick or conn.uid, params.meta)
            end
            return { ok = true }
        end,
        on = {
            shout = function(conn, topic, payload)
                server.hub:publish(topic, "shout", payload, { except = conn })
            end,
        },
    })
    return server
end

--- A JSON object with a million keys ("k1":1, ...), about 11 MB, built
-- a thousand keys at a time.
function M.million_keys()
    local chunks, keys = {}, {}
    for c = 0, 999 do
        for k = 1, 1000 do
            keys[k] = '"k' .. (c * 1000 + k) .. '":1'
        end
        chunks[c + 1] = table.concat(keys, ",")
    end
    return "{" .. table.concat(chunks, ",") .. "}"
end

--- The server process's resident memory in kB (the server runs in this
-- process), for sanity bounds only.
function M.rss_kb()
    for line in io.lines("/proc/self/status") do
        local kb = line:match("^VmRSS:%s+(%d+)")
        if kb then
            return tonumber(kb)
        end
    end
end

return M
