-- TLS: sb.listen{ tls = { cert, key } } serves wss://, the Lua client
-- connects with insecure = true to a self-signed certificate made here by
-- the openssl CLI, and a plain ws:// client against the TLS port fails
-- cleanly while the server keeps serving.
local sb = require "switchboard"
local support = require "support"

-- A self-signed EC certificate for 127.0.0.1 in a fresh temp dir.  The
-- ASan run preloads its runtime; the openssl CLI must not inherit that.
local function make_cert()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local cmd = ("env -u LD_PRELOAD openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
        .. "-nodes -days 1 -subj /CN=127.0.0.1 -keyout '%s/key.pem' -out '%s/cert.pem' >/dev/null 2>&1")
        :format(dir, dir)
    local ok = os.execute(cmd)
    assert(ok == true or ok == 0, "openssl could not make a certificate")
    return dir, dir .. "/cert.pem", dir .. "/key.pem"
end

describe("TLS", function()
    local dir, cert, key, server

    setup(function()
        dir, cert, key = make_cert()
    end)

    teardown(function()
        os.remove(cert)
        os.remove(key)
        os.remove(dir)
    end)

    before_each(function()
        server = assert(sb.listen{ port = 0, tls = { cert = cert, key = key } })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    it("serves wss:// to the Lua client with insecure = true", function()
        assert.matches("^wss://", server:url("/c/x"))
        local got = {}
        local a = sb.connect(server:url("/c/secure"), { insecure = true, reconnect = false })
        local b = sb.connect(server:url("/c/secure"), { insecure = true, reconnect = false })
        local opened = 0
        a:on("open", function() opened = opened + 1 end)
        b:on("open", function() opened = opened + 1 end)
        b:on("message", function(e) got[#got + 1] = e.message end)
        assert.truthy(support.wait_until(function() return opened == 2 end))
        a:send({ text = "over tls" })
        assert.truthy(support.wait_until(function() return #got == 1 end))
        assert.same({ text = "over tls" }, got[1])
        a:close()
        b:close()
    end)

    it("fails a plain ws:// client cleanly and keeps serving", function()
        local plain = support.raw((server:url("/c/secure"):gsub("^wss", "ws")))
        assert.falsy(plain:wait_open(3))
        assert.truthy(support.wait_until(function() return plain.error or plain.closed end))
        -- a raw TCP client speaking HTTP gets nothing usable either
        local status = support.http(server.port, "GET /c/secure HTTP/1.1\r\nHost: x\r\n\r\n")
        assert.is_nil(status)
        -- and the TLS side still works
        local got
        local a = sb.connect(server:url("/c/after"), { insecure = true, reconnect = false })
        local b = sb.connect(server:url("/c/after"), { insecure = true, reconnect = false })
        local open_b = false
        b:on("open", function() open_b = true end)
        b:on("message", function(e) got = e.message end)
        a:on("open", function() end)
        assert.truthy(support.wait_until(function() return open_b end))
        a:send("still here")
        assert.truthy(support.wait_until(function() return got ~= nil end))
        assert.same("still here", got)
        a:close()
        b:close()
    end)

    it("verifies the certificate by default: a self-signed one is refused", function()
        local opened, failed = false, false
        local c = sb.connect(server:url("/c/secure"), { reconnect = false })
        c:on("open", function() opened = true end)
        c:on("error", function() failed = true end)
        c:on("close", function() failed = true end)
        assert.truthy(support.wait_until(function() return failed or opened end))
        assert.is_false(opened)
        c:close()
    end)

    it("refuses a certificate it cannot read with a clear error", function()
        local s, err = sb.listen{ port = 0, tls = { cert = dir .. "/nope.pem", key = key } }
        assert.is_nil(s)
        assert.matches("cannot read TLS cert", err)
        assert.has_error(function() sb.listen{ port = 0, tls = { cert = cert } } end)
    end)
end)
