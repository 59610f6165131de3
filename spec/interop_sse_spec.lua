-- The real npm `eventsource` client (5.1.5, spec/interop/eventsource/)
-- under Node against the in-process server.  The node script drives the
-- scenarios over HTTP and prints one JSON line per scenario; the spec steps
-- the loop until the script is done or a deadline passes.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"

local dir = "spec/interop/eventsource"

local function have_node()
    local ok = os.execute("command -v node >/dev/null 2>&1")
    return (ok == true or ok == 0) and io.open(dir .. "/node_modules/eventsource/package.json") ~= nil
end

local function read_lines(path)
    local f = io.open(path)
    if not f then
        return {}
    end
    local lines = {}
    for line in f:lines() do
        lines[#lines + 1] = line
    end
    f:close()
    return lines
end

if not have_node() then
    describe("npm eventsource interop", function()
        pending("node or spec/interop/eventsource/node_modules missing (make node-deps)")
    end)
    return
end

describe("npm eventsource interop", function()
    local server, results, native_got, out, err = nil, {}, {}, os.tmpname(), os.tmpname()

    setup(function()
        server = assert(sb.listen{
            host = "127.0.0.1", port = 0,
            history = { live = 100, both = 100, quiet = 10, ["*"] = 0 },
            sse = { keepalive = 0.3, retry = 300 },
        })
        -- POST ?event=kick: end the streams of the channel; while they are
        -- gone, five ticks are published (the messages to recover)
        server:on("publish", function(_, channel, event)
            if event ~= "kick" then
                return true
            end
            local pending_ticks = true
            for _, conn in ipairs(server:connections()) do
                if conn.channel == channel and conn.protocol == "sse" then
                    conn:close()
                end
            end
            server:on("close", function(conn)
                if pending_ticks and conn.channel == channel then
                    pending_ticks = false
                    for n = 3, 7 do
                        server.hub:publish(channel, "tick", { n = n })
                    end
                end
            end)
            return false, "kicked", 409
        end)
        -- a native WebSocket subscriber of the channel node POSTs to
        local ws = sb.connect(("ws://127.0.0.1:%d/c/both"):format(server.port), { reconnect = false })
        ws:on("note", function(e) native_got[#native_got + 1] = e end)
        assert(http.wait(function() return ws:is_open() end))

        local cmd = ("node %s/run.mjs http://127.0.0.1:%d >%s 2>%s &"):format(dir, server.port, out, err)
        os.execute(cmd)
        local done = http.wait(function()
            local lines = read_lines(out)
            local last = lines[#lines]
            return last ~= nil and (last:find('"done"', 1, true) or last:find('"error"', 1, true)) ~= nil
        end, 40)
        for _, line in ipairs(read_lines(out)) do
            local ok, v = pcall(cjson.decode, line)
            if ok and type(v) == "table" then
                results[v.scenario or (v.done and "done") or "error"] = v
            end
        end
        if not done or results.error then
            local f = io.open(err)
            io.stderr:write("node output:\n", table.concat(read_lines(out), "\n"), "\n",
                f and f:read("*a") or "", "\n")
            if f then
                f:close()
            end
        end
        ws:close()
    end)

    teardown(function()
        server:close()
        os.remove(out)
        os.remove(err)
    end)

    it("runs every scenario to the end", function()
        assert.is_nil(results.error and results.error.error)
        assert.is_truthy(results.done)
    end)

    it("receives live events, then after a disconnect exactly the missed five, then live ones", function()
        local r = assert(results.resume)
        assert.are.equal(409, r.kick)
        local ns, ids = {}, {}
        for i, e in ipairs(r.got) do
            assert.are.equal("tick", e.type)
            ns[i] = e.data.n
            ids[i] = tonumber(e.id:match("%-(%d+)$"))
        end
        assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, ns)
        for i = 2, #ids do
            assert.is_true(ids[i] == ids[i - 1] + 1)
        end
        assert.is_true(r.errors >= 1)   -- it did lose the stream and reconnect
    end)

    it("gets recovery-failed for an id from a recreated channel, then live events", function()
        local r = assert(results.recreated)
        assert.are.equal("recovery-failed", r.got[1].type)
        assert.are.equal("epoch-changed", r.got[1].data.reason)
        assert.are.equal(r.oldId, r.got[1].data.lastEventId)
        assert.are.equal("tick", r.got[2].type)
        assert.are.equal(2, r.got[2].data.n)
    end)

    it("delivers a POST to SSE and native WebSocket subscribers", function()
        local r = assert(results.fanout)
        assert.are.equal(202, r.status)
        assert.are.equal(2, r.receivers)
        assert.are.same({ text = "to everyone" }, r.got[1].data)
        assert.is_true(http.wait(function() return #native_got == 1 end))
        assert.are.same({ text = "to everyone" }, native_got[1].message)
    end)

    it("sends keep-alive comments", function()
        local r = assert(results.keepalive)
        assert.are.equal(200, r.status)
        assert.are.equal("text/event-stream", r.contentType)
        assert.matches("retry:300\n\n", r.text, 1, true)
        assert.matches("\n:\n\n", r.text, 1, true)
    end)
end)
