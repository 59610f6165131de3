-- Plain HTTP GETs: files from `static`, clear refusals for anything else.
local sb = require "switchboard"
local support = require "support"

local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

describe("static files", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0, static = "examples/public" })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    local function get(path)
        return support.http(server.port, "GET " .. path .. " HTTP/1.1\r\nHost: x\r\n\r\n")
    end

    it("serves index.html for / and files by path, with their content type", function()
        local status, head, body = get("/")
        assert.same(200, status)
        assert.matches("content%-type: text/html", head:lower())
        assert.same(read("examples/public/index.html"), body)
        status, head, body = get("/chat.js")
        assert.same(200, status)
        assert.matches("content%-type: text/javascript", head:lower())
        assert.same(read("examples/public/chat.js"), body)
    end)

    it("answers 404 for a missing file and never serves outside the directory", function()
        assert.same(404, (get("/nope.html")))
        local status, _, body = get("/../../Makefile")
        assert.is_true(status == 403 or status == 404, "status " .. tostring(status))
        assert.is_nil(body:find("DEB_PKGS", 1, true))
    end)

    it("answers a plain GET on a WebSocket endpoint with 400", function()
        assert.same(400, (get("/c/room")))
    end)

    it("answers 404 when no static directory is configured", function()
        local bare = assert(sb.listen{ port = 0 })
        local status = support.http(bare.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        bare:close()
        assert.same(404, status)
    end)
end)
