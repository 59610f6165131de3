-- sb.listen{ host = ... } binds exactly what is asked (issue 18): an
-- address listens on that address alone, so the same port on another
-- address or the other family is refused; a name binds what it resolves
-- to; an address the host does not have is an error.  Checked by
-- connecting, not by reading `ss`.
local sb = require "switchboard"
local socket = require "socket"
local support = require "support"

-- Connects to addr:port and asks for /metrics.  Returns the HTTP status,
-- or nil and the connect error ("connection refused").  A refusal comes
-- straight from the kernel; an accepted connection is answered by the
-- server on this loop, so the wait steps it.
local function get_metrics(addr, port)
    local s = assert(addr:find(":", 1, true) and socket.tcp6() or socket.tcp4())
    s:settimeout(2)
    local ok, err = s:connect(addr, port)
    if not ok then
        s:close()
        return nil, err
    end
    s:settimeout(0)
    assert(support.send_all(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 2))
    local text = ""
    support.wait_until(function()
        local data, rerr, partial = s:receive(8192)
        text = text .. (data or partial or "")
        return text:find("\r\n\r\n", 1, true) or rerr == "closed"
    end, 3)
    s:close()
    return tonumber(text:match("^HTTP/1%.%d (%d+)"))
end

describe("listen address", function()
    local servers = {}
    local function listen(opts)
        opts.port = opts.port or 0
        local server, err = sb.listen(opts)
        servers[#servers + 1] = server
        return server, err
    end
    after_each(function()
        for _, s in ipairs(servers) do
            s:close()
        end
        servers = {}
        support.settle(0.05)
    end)

    it("binds an IPv4 address alone: ::1 and 127.0.0.2 on the same port are refused", function()
        local server = assert(listen{ host = "127.0.0.1" })
        assert.same({ "127.0.0.1" }, server.addresses)
        assert.equal("127.0.0.1", server.host)
        assert.equal(200, get_metrics("127.0.0.1", server.port))
        local status, err = get_metrics("::1", server.port)
        assert.is_nil(status)
        assert.equal("connection refused", err)
        status, err = get_metrics("127.0.0.2", server.port)
        assert.is_nil(status)
        assert.equal("connection refused", err)
    end)

    it("binds another loopback address alone: 127.0.0.1 on the same port is refused", function()
        local server = assert(listen{ host = "127.0.0.2" })
        assert.equal("127.0.0.2", server.host)
        assert.equal(200, get_metrics("127.0.0.2", server.port))
        local status, err = get_metrics("127.0.0.1", server.port)
        assert.is_nil(status)
        assert.equal("connection refused", err)
    end)

    it("binds an IPv6 address alone, with brackets in server.host and :url()", function()
        for _, host in ipairs({ "::1", "[::1]" }) do
            local server = assert(listen{ host = host })
            assert.same({ "[::1]" }, server.addresses)
            assert.equal("ws://[::1]:" .. server.port .. "/c/x", server:url("/c/x"))
            assert.equal(200, get_metrics("::1", server.port))
            local status, err = get_metrics("127.0.0.1", server.port)
            assert.is_nil(status)
            assert.equal("connection refused", err)
        end
    end)

    it("binds a name to what it resolves to, and nothing else", function()
        local want = {}
        for _, a in ipairs(assert(socket.dns.getaddrinfo("localhost"))) do
            want[a.family == "inet6" and "[" .. a.addr .. "]" or a.addr] = true
        end
        local server = assert(listen{ host = "localhost" })
        local got = {}
        for _, a in ipairs(server.addresses) do
            got[a] = true
        end
        assert.equal(support.keys(want), support.keys(got))
        for _, addr in ipairs({ "127.0.0.1", "::1" }) do
            local bracketed = addr:find(":") and "[" .. addr .. "]" or addr
            local status, err = get_metrics(addr, server.port)
            if want[bracketed] then
                assert.equal(200, status)
            else
                assert.equal("connection refused", err)
            end
        end
    end)

    it("refuses an address that is not on this host with nil, err naming it", function()
        local server, err = listen{ host = "203.0.113.5" }
        assert.is_nil(server)
        assert.truthy(err:find("203.0.113.5", 1, true), err)
        assert.truthy(err:find("EADDRNOTAVAIL", 1, true), err)
    end)

    it("says which address a taken port is on", function()
        local first = assert(listen{ host = "127.0.0.1" })
        local server, err = listen{ host = "127.0.0.1", port = first.port }
        assert.is_nil(server)
        assert.truthy(err:find("127.0.0.1:" .. first.port, 1, true), err)
        assert.truthy(err:find("EADDRINUSE", 1, true), err)
    end)

    it("examples/relay.lua --host ::1 logs the bracketed address it bound; a bad one exits 1", function()
        local out = os.tmpname()
        local pidfile = out .. ".pid"
        os.execute(("sh -c '%s examples/relay.lua --host ::1 --port 0 >%s 2>&1 & echo $! >%s; wait $!' &")
            :format(support.LUA, out, pidfile))
        local port = support.wait_for(function()
            return (support.readfile(out) or ""):match("listening on http://%[::1%]:(%d+)")
        end, 10)
        local pid = (support.readfile(pidfile) or ""):match("%d+")
        local text = support.readfile(out)
        if pid then
            os.execute("kill -TERM " .. pid)
        end
        os.remove(pidfile)
        os.remove(out)
        assert.truthy(port, text)
        assert.equal("listening on http://[::1]:" .. port .. "\n", text)

        local p = io.popen(support.LUA .. " examples/relay.lua --host 203.0.113.5 --port 0 2>&1; echo exit=$?")
        text = p:read("*a")
        p:close()
        assert.truthy(text:find("relay: cannot listen on 203.0.113.5:0: EADDRNOTAVAIL", 1, true), text)
        assert.truthy(text:find("exit=1", 1, true), text)
    end)
end)
