-- The event loop: timers, bounded steps, errors inside callbacks, and
-- driving switchboard from another event loop through pollfd/timeout/step.
local sb = require "switchboard"
local support = require "support"

local wait_until = support.wait_until

describe("event loop", function()
    it("fires after() once and every() until cancelled", function()
        local once, many = 0, 0
        sb.after(0.01, function() once = once + 1 end)
        local t = sb.every(0.01, function() many = many + 1 end)
        assert.is_true(wait_until(function() return many >= 3 end))
        t:cancel()
        local seen = many
        support.settle(0.05)
        assert.same(1, once)
        assert.same(seen, many)
        assert.is_false(t:active())
    end)

    it("cancels a timer before it fires", function()
        local fired = false
        local t = sb.after(0.02, function() fired = true end)
        t:cancel()
        support.settle(0.06)
        assert.is_false(fired)
    end)

    it("run() returns once nothing is left, and stop() ends it early", function()
        local n = 0
        sb.after(0.01, function() n = n + 1 end)
        sb.run()
        assert.same(1, n)
        local t = sb.every(0.01, function() n = n + 1; if n >= 4 then sb.stop() end end)
        sb.run()
        t:cancel()
        assert.same(4, n)
    end)

    it("step(timeout) waits no longer than its timeout", function()
        local socket = require "socket"
        local t0 = socket.gettime()
        sb.step(0.05)
        local dt = socket.gettime() - t0
        assert.is_true(dt < 1.0)
    end)

    it("reports an error raised in a callback and keeps running", function()
        local reported
        sb.onerror(function(where, msg) reported = where .. ": " .. msg end)
        local after = false
        sb.after(0, function() error("boom") end)
        sb.after(0.01, function() after = true end)
        assert.is_true(wait_until(function() return after end))
        sb.onerror(nil)
        assert.matches("timer callback", reported)
        assert.matches("boom", reported)
        assert.matches("traceback", reported)
    end)

    it("rejects misuse with clear messages", function()
        assert.has_error(function() sb.after(-1, function() end) end,
            "switchboard.after: seconds must be a number >= 0")
        assert.has_error(function() sb.every(1, "x") end,
            "switchboard.every: callback must be a function")
        assert.has_error(function() sb.step("soon") end,
            "switchboard.step: timeout must be a number of seconds")
    end)

    it("can be driven by cqueues through pollfd, events and timeout", function()
        local ok, cqueues = pcall(require, "cqueues")
        if not ok then
            pending("cqueues not installed")
            return
        end
        local server = assert(sb.listen{ port = 0 })
        local got
        local c = sb.connect(server:url("/c/cq"), { echo = true })
        c:on("message", function(e) got = e.message end)
        c:send("via cqueues")
        local cq = cqueues.new()
        cq:wrap(function()
            local deadline = cqueues.monotime() + 5
            while not got and cqueues.monotime() < deadline do
                cqueues.poll({ pollfd = sb.pollfd, events = sb.events, timeout = sb.timeout }, 0.05)
                sb.step(0)
            end
        end)
        assert(cq:loop())
        c:close()
        server:close()
        assert.same("via cqueues", got)
    end)

    it("can be driven by luv through pollfd and timeout", function()
        local ok, uv = pcall(require, "luv")
        if not ok then
            pending("luv not installed")
            return
        end
        local server = assert(sb.listen{ port = 0 })
        local got
        local c = sb.connect(server:url("/c/luv"), { echo = true })
        c:on("message", function(e) got = e.message end)
        c:send("via luv")
        local poll = uv.new_poll(sb.pollfd())
        local tick = uv.new_timer()
        local function pump()
            sb.step(0)
            if got then
                poll:stop()
                tick:stop()
            end
        end
        poll:start("r", pump)
        tick:start(10, 10, pump)
        local guard = uv.new_timer()
        guard:start(5000, 0, function() poll:stop() tick:stop() end)
        uv.run()
        guard:close() poll:close() tick:close()
        uv.run("nowait")
        c:close()
        server:close()
        assert.same("via luv", got)
    end)

    -- lws 4.1.6 on libuv closes a destroyed context's event pipe twice, the
    -- second time a loop turn later; whatever took that fd number in
    -- between (a file, a socket, a new server's listener) must survive.
    it("keeps the app's files open across a server's destruction", function()
        for _ = 1, 5 do
            local server = assert(sb.listen{ port = 0 })
            server:close()
            sb.step(0)   -- the context is destroyed after this turn
            local files = {}
            for i = 1, 8 do
                files[i] = assert(io.open("/dev/null", "rb"))
            end
            support.settle(0.05)   -- the late close callbacks run here
            for i = 1, 8 do
                local pos, err = files[i]:seek("set", 0)
                assert.same(0, pos, err)
                files[i]:close()
            end
        end
    end)
end)
