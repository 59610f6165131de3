-- phoenix.js (the real npm client's browser build) in Chromium on a
-- network that blocks WebSockets: it falls back to LongPoll after
-- longPollFallbackMs and keeps working (spec/browser/longpoll.js).  The
-- server runs here; the app's channel handler is the same for both
-- transports.
local sb = require "switchboard"
local support = require "support"
local browser = require "browser_helper"

local PHOENIX_JS = "spec/interop/phoenix/node_modules/phoenix/priv/static/phoenix.js"

local why_not = browser.missing()
if not why_not and not io.open(PHOENIX_JS) then
    why_not = PHOENIX_JS .. " missing (make node-deps)"
end
if why_not then
    describe("phoenix.js in Chromium with WebSockets blocked", function()
        pending(why_not)
    end)
    return
end

describe("phoenix.js in Chromium with WebSockets blocked", function()
    local server, run, dir
    local transports = {}

    setup(function()
        -- a blank page of the server's own origin for the client to live in
        dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir " .. dir))
        local f = assert(io.open(dir .. "/blank.html", "w"))
        f:write('<!doctype html><html><head><title>lp</title><link rel="icon" href="data:,"></head>',
            "<body></body></html>\n")
        f:close()
        server = assert(sb.listen{ port = 0, static = dir })
        server:channel("room:*", {
            join = function(conn)
                transports[#transports + 1] = conn.transport
                return {}
            end,
            on = {
                shout = function(_, topic, payload)
                    server.hub:publish(topic, "shout", { text = payload.text })
                    return {}
                end,
            },
        })
        run = browser.run("longpoll.js", { "http://127.0.0.1:" .. server.port, PHOENIX_JS }, function() end, 60)
    end)

    teardown(function()
        server:close()
        support.settle(0.05)
        os.remove(dir .. "/blank.html")
        os.remove(dir)
    end)

    it("falls back to LongPoll after longPollFallbackMs, joins and hears its broadcast", function()
        assert.is_nil(run.error, run.stderr)
        local r = assert(run.scenarios.fallback, "no result from the page")
        assert.is_true(r.wsTried >= 1, "the page never tried a WebSocket")
        assert.is_true(r.longpoll, "the socket did not switch to LongPoll")
        assert.is_true(r.joined)
        assert.same({ "over long-polling" }, r.got)
        assert.same("longpoll", transports[#transports])
    end)

    it("shows no console error, failed request or exception", function()
        assert.is_truthy(run.done)
        assert.are.same({}, run.done.errors, browser.show_errors(run.done.errors))
    end)
end)
