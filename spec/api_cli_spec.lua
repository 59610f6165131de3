-- `switchboard api METHOD [JSON]` (lua/switchboard/cli.lua): one call of
-- a server API, against a server in this process; and once through
-- bin/switchboard in a process of its own.
local sb = require "switchboard"
local cjson = require "cjson"
local cli = require "switchboard.cli"
local support = require "support"

-- A file-like sink for the command's stdout and stderr.
local function buffer()
    local b = { text = "" }
    function b.write(self, ...)
        for _, s in ipairs({ ... }) do
            self.text = self.text .. s
        end
    end
    return b
end

describe("switchboard api", function()
    local server, url

    setup(function()
        server = assert(sb.listen{ port = 0, api = { keys = { ["cli-key"] = true,
            ["read-key"] = { "presence" } } } })
        url = ("http://127.0.0.1:%d/api"):format(server.port)
    end)

    teardown(function()
        server:close()
        support.settle(0.05)
    end)

    -- Runs the command in this process; returns code, stdout, stderr.
    local function run(argv, env)
        local out, err = buffer(), buffer()
        env = env or {}
        env.stdout, env.stderr = out, err
        env.getenv = env.getenv or function() return nil end
        local code = cli.api_main(sb, argv, env)
        return code, out.text, err.text
    end

    it("publishes and prints the JSON answer", function()
        local c = support.raw(server:url("/c/cli:1"))
        assert.is_true(c:wait_open())
        local code, out, err = run({ "publish", '{"channel":"cli:1","event":"hi","data":{"n":1}}',
            "--url", url, "--key", "cli-key" })
        assert.equal(0, code)
        assert.same({ result = { receivers = 1 } }, cjson.decode(out))
        assert.equal("", err)
        assert.is_true(support.wait_until(function() return #c:of_type("hi") == 1 end))
        c:close()
    end)

    it("reads the URL and key from the environment, and the body from stdin", function()
        local env = { SWITCHBOARD_API_URL = url, SWITCHBOARD_API_KEY = "read-key" }
        local stdin = { read = function() return '{"channel":"cli:2"}' end }
        local code, out = run({ "presence", "-" }, { getenv = function(k) return env[k] end, stdin = stdin })
        assert.equal(0, code)
        assert.same({ result = { members = {} } }, cjson.decode(out))
    end)

    it("exits 1 with the error on stderr when the server refuses", function()
        local code, out, err = run({ "publish", '{"channel":"x","data":1}', "--url", url, "--key", "read-key" })
        assert.equal(1, code)
        assert.equal("forbidden", cjson.decode(out).error.code)
        assert.equal("switchboard api: 403 forbidden: this key may not call publish\n", err)
    end)

    it("exits 1 when nothing answers", function()
        local code, _, err = run({ "channels", "--url", "http://127.0.0.1:1/api", "--key", "k" })
        assert.equal(1, code)
        assert.matches("^switchboard api: no answer from http://127.0.0.1:1/api: ", err)
    end)

    it("exits 2 for a usage error", function()
        local code, _, err = run({ "presence" })
        assert.equal(2, code)
        assert.equal("switchboard api: no API key: give --key KEY or set SWITCHBOARD_API_KEY; see --help\n", err)
        code, _, err = run({ "presence", "{oops", "--key", "k" })
        assert.equal(2, code)
        assert.equal("switchboard api: the body is not JSON: {oops\n", err)
        code, _, err = run({ "presence", "--ky", "k" })
        assert.equal(2, code)
        assert.matches("unknown option %-%-ky %(did you mean %-%-key%?%)", err)
        code = run({})
        assert.equal(2, code)
        local out
        code, out = run({ "--help" })
        assert.equal(0, code)
        assert.matches("methods: publish, broadcast", out)
    end)

    it("calls a relay started with --api-key", function()
        local relay = require "switchboard.relay"
        local r = assert(relay.listen({ port = 0, history = 0, api_key = "relay-key" }))
        local code, out = run({ "channels", "--url", ("http://127.0.0.1:%d/api"):format(r.port),
            "--key", "relay-key" })
        assert.equal(0, code)
        assert.same({ result = { channels = {} } }, cjson.decode(out))
        r:close()
    end)

    it("runs as bin/switchboard api", function()
        local path = os.tmpname()
        -- in the background: this process must serve the call meanwhile
        os.execute(("(SWITCHBOARD_API_KEY=cli-key %s bin/switchboard api channels --url %s > %s 2>&1; "
            .. "echo \"exit=$?\" >> %s) &"):format(support.LUA, url, path, path))
        local text
        assert.is_true(support.wait_until(function()
            local f = io.open(path)
            text = f and f:read("*a") or ""
            if f then
                f:close()
            end
            return text:find("exit=%d") ~= nil
        end, 10))
        os.remove(path)
        assert.equal('{"result":{"channels":[]}}\nexit=0\n', text)
    end)
end)
