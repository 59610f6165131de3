-- Signed tokens (switchboard.token): HS256 JWTs checked against a vector
-- made by another implementation, refusals with clear errors, and their
-- use in a connect hook.
local sb = require "switchboard"
local support = require "support"

local token = sb.token

-- The jwt.io HS256 example: made by another implementation.
local JWTIO = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    .. ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    .. ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
local JWTIO_SECRET = "your-256-bit-secret"

-- base64url without padding, for hand-made tokens
local function b64url(s)
    local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    local out = {}
    for i = 1, #s, 3 do
        local a, b, c = s:byte(i, i + 2)
        local n = a * 65536 + (b or 0) * 256 + (c or 0)
        local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
        for k = 1, chars do
            local shift = 18 - 6 * (k - 1)
            local v = math.floor(n / 2 ^ shift) % 64
            out[#out + 1] = alphabet:sub(v + 1, v + 1)
        end
    end
    return table.concat(out)
end

describe("switchboard.token", function()
    it("verifies the jwt.io HS256 example made by another implementation", function()
        local claims = assert(token.verify(JWTIO, JWTIO_SECRET))
        assert.same({ sub = "1234567890", name = "John Doe", iat = 1516239022 }, claims)
    end)

    it("signs what it verifies, with iat and exp from ttl", function()
        local t = token.sign({ sub = "alice", room = "r1" }, "s3cret", { ttl = 60, now = 1000 })
        assert.matches("^[%w_-]+%.[%w_-]+%.[%w_-]+$", t)
        local claims = assert(token.verify(t, "s3cret", { now = 1030 }))
        assert.same({ sub = "alice", room = "r1", iat = 1000, exp = 1060 }, claims)
        -- without opts.now, the real clock is used
        local live = token.sign({ sub = "bob" }, "s3cret", { ttl = 60 })
        assert.same("bob", assert(token.verify(live, "s3cret")).sub)
    end)

    it("refuses a wrong secret and any tampering with 'bad signature'", function()
        local t = token.sign({ sub = "alice", admin = false }, "s3cret")
        local h, p, s = t:match("^([^.]+)%.([^.]+)%.([^.]+)$")
        assert.same({ nil, "bad signature" }, { token.verify(t, "other") })
        local forged = b64url('{"sub":"alice","admin":true}')
        assert.same({ nil, "bad signature" }, { token.verify(h .. "." .. forged .. "." .. s, "s3cret") })
        -- flip one character of the signature
        local last = s:sub(-2, -2) == "A" and "B" or "A"
        local bad = h .. "." .. p .. "." .. s:sub(1, -3) .. last .. s:sub(-1)
        assert.same({ nil, "bad signature" }, { token.verify(bad, "s3cret") })
    end)

    it("refuses alg none and every alg but HS256, before the signature", function()
        local body = b64url('{"sub":"alice"}')
        local none = b64url('{"alg":"none","typ":"JWT"}') .. "." .. body .. "."
        assert.same({ nil, "unsupported alg (only HS256)" }, { token.verify(none, "s3cret") })
        local valid = token.sign({ sub = "alice" }, "s3cret")
        local sig = valid:match("([^.]+)$")
        for _, alg in ipairs({ "HS512", "RS256", "hs256", "" }) do
            local t = b64url('{"alg":"' .. alg .. '"}') .. "." .. body .. "." .. sig
            assert.same({ nil, "unsupported alg (only HS256)" }, { token.verify(t, "s3cret") })
        end
        local noalg = b64url('{"typ":"JWT"}') .. "." .. body .. "." .. sig
        assert.same({ nil, "unsupported alg (only HS256)" }, { token.verify(noalg, "s3cret") })
    end)

    it("checks exp and nbf, with an optional leeway", function()
        local t = token.sign({ sub = "a" }, "k", { ttl = 10, now = 100 })
        assert.same({ nil, "token expired" }, { token.verify(t, "k", { now = 110 }) })
        assert.truthy(token.verify(t, "k", { now = 109 }))
        assert.truthy(token.verify(t, "k", { now = 112, leeway = 5 }))
        local early = token.sign({ sub = "a", nbf = 200 }, "k", { now = 100 })
        assert.same({ nil, "token not yet valid" }, { token.verify(early, "k", { now = 150 }) })
        assert.truthy(token.verify(early, "k", { now = 198, leeway = 5 }))
        assert.truthy(token.verify(early, "k", { now = 200 }))
        local weird = token.sign({ exp = "tomorrow" }, "k")
        assert.same({ nil, "malformed token" }, { token.verify(weird, "k") })
    end)

    it("answers malformed input with 'malformed token' or 'missing token'", function()
        assert.same({ nil, "missing token" }, { token.verify(nil, "k") })
        assert.same({ nil, "missing token" }, { token.verify("", "k") })
        for _, t in ipairs({ "abc", "a.b", "a.b.c.d", "!!.b.c", JWTIO .. "=", 42 }) do
            assert.same({ nil, "malformed token" }, { token.verify(t, "k") })
        end
    end)

    it("raises on misuse: no secret, claims not a table, bad ttl", function()
        assert.has_error(function() token.sign({}, "") end)
        assert.has_error(function() token.sign("x", "k") end)
        assert.has_error(function() token.sign({}, "k", { ttl = -1 }) end)
        assert.has_error(function() token.verify("a.b.c", nil) end)
        assert.has_error(function() token.verify("a.b.c", "k", { leeway = "5" }) end)
    end)

    describe("in a connect hook", function()
        local server
        local SECRET = "hook-secret"

        before_each(function()
            server = assert(sb.listen{ port = 0 })
            server:on("connect", function(conn, req)
                local claims, err = sb.token.verify(req.query.token, SECRET)
                if not claims then
                    return false, err, 401
                end
                conn.member = claims.sub
            end)
        end)

        after_each(function()
            server:close()
            support.settle(0.02)
        end)

        local up = "HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

        it("lets a valid token in as its subject", function()
            local t = token.sign({ sub = "alice" }, SECRET, { ttl = 60 })
            local a = support.raw(server:url("/c/room?token=" .. t))
            assert.is_true(a:wait_open())
            assert.truthy(support.wait_until(function()
                return server.hub:is_present("room", "alice")
            end))
            a:close()
        end)

        it("refuses missing, forged and expired tokens at the handshake", function()
            local status, _, body = support.http(server.port, "GET /c/room " .. up)
            assert.same(401, status)
            assert.matches("missing token", body)
            local forged = token.sign({ sub = "mallory" }, "guessed", { ttl = 60 })
            status, _, body = support.http(server.port, "GET /c/room?token=" .. forged .. " " .. up)
            assert.same(401, status)
            assert.matches("bad signature", body)
            local old = token.sign({ sub = "alice" }, SECRET, { ttl = 1, now = 1000 })
            status, _, body = support.http(server.port, "GET /c/room?token=" .. old .. " " .. up)
            assert.same(401, status)
            assert.matches("token expired", body)
            -- the server keeps serving
            local ok = support.raw(server:url("/c/room?token=" .. token.sign({ sub = "bob" }, SECRET)))
            assert.is_true(ok:wait_open())
            ok:close()
        end)
    end)
end)
