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

    it("serves the examples' favicon, which every page links", function()
        local status, head, body = get("/favicon.ico")
        assert.same(200, status)
        assert.matches("content%-type: image/x%-icon", head:lower())
        assert.same("\0\0\1\0", body:sub(1, 4))   -- an ICO file's header
        assert.same(read("examples/public/favicon.ico"), body)
        status, head, body = get("/favicon.svg")
        assert.same(200, status)
        assert.matches("content%-type: image/svg%+xml", head:lower())
        assert.truthy(body:find("<svg", 1, true))
        for _, page in ipairs({ "index.html", "lobby.html", "ticker.html" }) do
            local html = read("examples/public/" .. page)
            assert.truthy(html:find('<link rel="icon" href="favicon.ico"', 1, true), page)
            assert.truthy(html:find('<link rel="icon" href="favicon.svg"', 1, true), page)
        end
    end)

    it("shows a browser a self-contained 404 page, and gives other clients JSON", function()
        local function get_accepting(path, accept)
            return support.http(server.port, ("GET %s HTTP/1.1\r\nHost: x\r\nAccept: %s\r\n\r\n")
                :format(path, accept))
        end
        local status, head, body = get_accepting("/nope.html",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        assert.same(404, status)
        assert.matches("content%-type: text/html; charset=utf%-8", head:lower())
        assert.truthy(body:find("<h1>404</h1>", 1, true))
        assert.truthy(body:find("Not Found", 1, true))
        assert.truthy(body:find("<style>", 1, true))
        -- nothing to fetch: no stylesheet, script or image of its own
        assert.is_nil(body:find("<link", 1, true))
        assert.is_nil(body:find("error.css", 1, true))
        assert.is_nil(body:find("<script", 1, true))
        -- and nothing of the request is echoed into it
        assert.is_nil(body:find("nope", 1, true))

        status, head, body = get_accepting("/nope.html", "application/json")
        assert.same(404, status)
        assert.matches("content%-type: application/json", head:lower())
        assert.same('{"error":"not found"}', body)
        status, head = get("/nope.html")
        assert.same(404, status)
        assert.matches("content%-type: application/json", head:lower())

        -- a server without a static directory says the same
        local bare = assert(sb.listen{ port = 0 })
        status, head = support.http(bare.port, "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n")
        bare:close()
        assert.same(404, status)
        assert.matches("content%-type: text/html", head:lower())
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

    it("answers three pipelined GETs of a file on one connection, in order", function()
        local socket = require "socket"
        local body = read("examples/public/chat.js")
        local c = assert(socket.tcp4())
        c:settimeout(2)
        assert(c:connect("127.0.0.1", server.port))
        c:settimeout(0)
        local req = "GET /chat.js HTTP/1.1\r\nHost: x\r\n\r\n"
        assert(support.send_all(c, req .. req .. req, 2))
        local text, closed = "", false
        support.wait_until(function()
            local data, err, partial = c:receive(65536)
            text = text .. (data or partial or "")
            closed = closed or err == "closed"
            return closed or #text >= 3 * #body + 3 * 60 and select(2, text:gsub("HTTP/1%.1 ", "")) >= 3
        end, 5)
        c:close()
        local statuses, bodies = {}, 0
        for status in text:gmatch("HTTP/1%.1 (%d+)") do
            statuses[#statuses + 1] = tonumber(status)
        end
        local first_line = (body:sub(1, 40):gsub("%p", "%%%0"))
        for _ in text:gmatch(first_line) do
            bodies = bodies + 1
        end
        assert.same({ 200, 200, 200 }, statuses)
        assert.equal(3, bodies)
        assert.is_false(closed)
    end)
end)

describe("static files and symlinks", function()
    -- root/: a.txt, inlink -> a.txt (inside), dirlink -> outside/ and
    -- filelink -> outside/secret.txt (both planted links out of the root)
    local base = os.tmpname()
    local root, outside = base .. "-root", base .. "-outside"
    local servers = {}

    setup(function()
        os.remove(base)
        assert(os.execute(("mkdir -p %s %s && printf inside >%s/a.txt && printf SECRET >%s/secret.txt"
            .. " && ln -s a.txt %s/inlink && ln -s %s %s/dirlink && ln -s %s/secret.txt %s/filelink")
            :format(root, outside, root, outside, root, outside, root, outside, root)))
    end)

    teardown(function()
        os.execute(("rm -rf %s %s"):format(root, outside))
    end)

    after_each(function()
        for _, s in ipairs(servers) do
            s:close()
        end
        servers = {}
        support.settle(0.02)
    end)

    local function serve(opts)
        opts.port = 0
        local s = assert(sb.listen(opts))
        servers[#servers + 1] = s
        return function(path)
            return support.http(s.port, "GET " .. path .. " HTTP/1.1\r\nHost: x\r\n\r\n")
        end
    end

    it("answers 404 for a link that leads out of the root; links inside are served", function()
        local get = serve{ static = root }
        for _, path in ipairs({ "/dirlink/secret.txt", "/filelink" }) do
            local status, _, body = get(path)
            assert.equal(404, status, path)
            assert.is_nil(body:find("SECRET", 1, true), path)
        end
        local status, _, body = get("/inlink")
        assert.equal(200, status)
        assert.equal("inside", body)
        -- a root given through a link of its own is resolved too
        os.execute(("ln -sfn %s %s-alias"):format(root, base))
        get = serve{ static = base .. "-alias" }
        status, _, body = get("/a.txt")
        os.remove(base .. "-alias")
        assert.equal(200, status)
        assert.equal("inside", body)
    end)

    it("follows links out of the root with static_follow_links = true", function()
        local get = serve{ static = root, static_follow_links = true }
        local status, _, body = get("/dirlink/secret.txt")
        assert.equal(200, status)
        assert.equal("SECRET", body)
        assert.has_error(function() sb.listen{ port = 0, static = root, static_follow_links = "yes" } end,
            "switchboard.listen: option 'static_follow_links' must be true or false, got \"yes\"")
    end)
end)
