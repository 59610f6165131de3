-- examples/relay.lua and switchboard.relay (the `switchboard relay`
-- command): any channel, no app logic, messages relayed between clients.
local async = require "async_helpers"
local relay_example = require "examples.relay"
local relay = require "switchboard.relay"
local cli = require "switchboard.cli"

describe("examples/relay.lua", function()
    local app, clients

    before_each(function()
        app = assert(relay_example.start({ port = 0, history = 10 }))
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { app })
    end)

    local function connect(path, opts)
        local rec = async.client(app.port, path, opts)
        clients[#clients + 1] = rec
        return rec
    end

    it("relays between two clients on any channel", function()
        local a = connect("/c/anything:at/all", { alias = "alice", announce = true })
        assert.truthy(async.wait_for(function() return async.last(a, "join") end))
        local b = connect("/c/anything:at/all", { alias = "bob", announce = true })
        assert.truthy(async.wait_for(function()
            local j = async.last(a, "join")
            return j.users == 2 and j.alias == "bob"
        end))
        b.c:send({ type = "chat", text = "hello" })
        b.c:send("plain string")
        assert.truthy(async.wait_for(function() return #a.events >= 4 end))
        local chat = async.last(a, "chat")
        assert.equal("hello", chat.text)
        assert.equal("bob", chat.alias)
        assert.equal(b.c and async.last(b, "join").uid, chat.uid)
        local last = a.events[#a.events]
        assert.equal("plain string", last.message)
        -- no echo by default
        async.settle(0.05)
        assert.is_nil(async.last(b, "chat"))
    end)

    it("runs no Lua for messages: no channel handlers are registered", function()
        assert.is_nil(app:handler_for("x"))
    end)
end)

describe("examples/relay.lua --pusher", function()
    local http = require "http_helper"
    local pusher = require "switchboard.pusher"
    local json = require "switchboard.json"

    it("turns Pusher on with a demo auth endpoint that signs by the user_id parameter", function()
        local app = assert(relay_example.start({ port = 0, pusher = "7:demo-key:demo-secret" }))
        local function auth(body)
            return http.request(app.port, "POST", "/pusher/auth",
                { ["content-type"] = "application/x-www-form-urlencoded" }, body)
        end
        local r = auth("socket_id=1.2&channel_name=private-x")
        assert.equal(pusher.sign("demo-key", "demo-secret", "1.2", "private-x"), r.json.auth)
        r = auth("socket_id=1.2&channel_name=presence-x&user_id=ann")
        assert.equal("ann", json.decode(r.json.channel_data).user_id)
        assert.equal(pusher.sign("demo-key", "demo-secret", "1.2", "presence-x", r.json.channel_data),
            r.json.auth)
        r = auth("socket_id=1.2&channel_name=presence-x")
        assert.equal(403, r.status)
        assert.truthy(r.json.error:find("user_id", 1, true))
        app:close()
    end)

    it("refuses a --pusher that is not ID:KEY:SECRET", function()
        assert.truthy(relay.check({ pusher = "just-a-key" }):find("ID:KEY:SECRET", 1, true))
        assert.is_nil(relay.check({ pusher = "1:k:s" }))
    end)
end)

describe("switchboard.cli", function()
    it("parses --host, --port and --history", function()
        local opts = assert(cli.parse_args({ "--port", "9000", "--host=0.0.0.0", "--history", "5" },
            relay.defaults))
        assert.same({ host = "0.0.0.0", port = 9000, history = 5, no_events = false,
            redis = "", node = "", node_ttl = 0, workers = 1, api_key = "", pusher = "" }, opts)
    end)

    it("parses --redis, --node and --node-ttl for a cluster", function()
        local opts = assert(cli.parse_args({ "--redis", "redis://127.0.0.1:6379/0", "--node=n1",
            "--node-ttl", "3" }, relay.defaults))
        assert.same({ "redis://127.0.0.1:6379/0", "n1", 3 }, { opts.redis, opts.node, opts.node_ttl })
    end)

    it("parses --workers, and listen refuses workers without redis or a fixed port", function()
        local opts = assert(cli.parse_args({ "--workers", "2" }, relay.defaults))
        assert.equal(2, opts.workers)
        local sb = require "switchboard"
        assert.has_error(function() sb.listen{ port = 9999, workers = 2 } end,
            "switchboard.listen: workers > 1 needs redis = \"redis://HOST:PORT\" "
            .. "(workers share channels, presence and history through Redis)")
        assert.has_error(function() sb.listen{ port = 0, workers = 2, redis = "redis://127.0.0.1:1" } end,
            "switchboard.listen: workers > 1 needs a fixed port (they share it)")
        assert.has_error(function() sb.listen{ port = 9999, workers = 1.5 } end,
            "switchboard.listen: option 'workers' must be a whole number 1..256, got 1.5")
    end)

    it("takes boolean options as switches", function()
        local opts = assert(cli.parse_args({ "--no-events", "--port", "9" }, relay.defaults))
        assert.same({ true, 9 }, { opts.no_events, opts.port })
        local _, err = cli.parse_args({ "--no-events=maybe" }, relay.defaults)
        assert.truthy(err:find("switch", 1, true))
    end)

    it("refuses unknown options and bad numbers with a message", function()
        local opts, err = cli.parse_args({ "--bogus", "1" }, relay.defaults)
        assert.is_nil(opts)
        assert.equal("unknown option --bogus", err)
        opts, err = cli.parse_args({ "--port", "http" }, relay.defaults)
        assert.is_nil(opts)
        assert.truthy(err:find("whole number", 1, true))
        opts, err = cli.parse_args({ "--port" }, relay.defaults)
        assert.is_nil(opts)
        assert.truthy(err:find("needs a value", 1, true))
    end)
end)
