-- Every fenced Lua block of README.md and docs/*.md runs, in a process of
-- its own, and prints what the page says it prints.  The blocks are read
-- from the pages here, never copied into this file.
--
-- What a block may say about itself (after ```lua on its fence line):
--   server=NAME  it is a server: it runs in the background, for the blocks
--                that say with=NAME, until they are done
--   with=NAME    it needs the server block NAME running
-- A comment `--> text` says the block prints the line `text`; the lines
-- must come out in the order of those comments, and nothing else.  A block
-- that calls sb.run() returns from it once every promised line is printed
-- (at once when it promises none); a server block's sb.run() runs for real.
-- A block that names redis:// gets a Redis on 127.0.0.1:6379 (ours when
-- none runs there), one that names cert.pem a self-signed cert.pem and
-- key.pem in the working directory, removed afterwards.
local async = require "async_helpers"
local support = require "support"
local redis_helper = require "redis_helper"

local PAGES = { "README.md" }
do
    local p = io.popen("ls docs/*.md 2>/dev/null")
    for line in p:lines() do
        PAGES[#PAGES + 1] = line
    end
    p:close()
end

-- The fenced Lua blocks of one page: { page, line, code, attrs }.
local function blocks_of(page)
    local list, cur = {}, nil
    local n = 0
    for line in io.lines(page) do
        n = n + 1
        if cur then
            if line:match("^```%s*$") then
                list[#list + 1] = cur
                cur = nil
            else
                cur.code[#cur.code + 1] = line
            end
        else
            local info = line:match("^```lua(.*)$")
            if info then
                local attrs = {}
                for k, v in info:gmatch("(%w+)=([%w_-]+)") do
                    attrs[k] = v
                end
                cur = { page = page, line = n + 1, code = {}, attrs = attrs }
            end
        end
    end
    assert(cur == nil, page .. ": a ```lua block is not closed")
    for _, b in ipairs(list) do
        b.code = table.concat(b.code, "\n") .. "\n"
        b.name = ("%s:%d"):format(b.page, b.line)
    end
    return list
end

-- The lines a block promises to print, in order.
local function promised(code)
    local out = {}
    for line in code:gmatch("[^\n]*") do
        local text = line:match("%-%->%s(.*)$")
        if text then
            out[#out + 1] = (text:gsub("%s+$", ""))
        end
    end
    return out
end

-- The wrapper a block runs in: sb.run() as described at the top.
local PRELUDE = [[
io.stdout:setvbuf("line")
local sb = require "switchboard"
local mode, want, block = ...
local printed, real_print, real_run = 0, print, sb.run
print = function(...) printed = printed + 1; real_print(...) end
sb.run = function()
    if mode == "server" then
        real_print("SNIPPET READY")
        return real_run()
    end
    local deadline = sb.now_ms() + 15000
    while printed < tonumber(want) and sb.now_ms() < deadline do
        sb.step(0.05)
    end
end
assert(loadfile(block))()
sb.run()
os.exit(0)
]]

local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
end

local prelude_path = os.tmpname()
write(prelude_path, PRELUDE)

-- The shell command that runs block b (its code in a file) in `mode`.
local function command(b, mode, out)
    local file = os.tmpname()
    write(file, b.code)
    return ("timeout 60 %s %s %s %d %s >%s 2>%s.err")
        :format(support.LUA, prelude_path, mode, #promised(b.code), file, out, out)
end

local function lines_of(text)
    local out = {}
    for line in (text or ""):gmatch("([^\n]*)\n") do
        out[#out + 1] = line
    end
    return out
end

-- A server block in the background: returns a stop function once it has
-- printed SNIPPET READY, and the lines it printed before.
local function start_server(b)
    local out = os.tmpname()
    local pidfile = out .. ".pid"
    local cmd = command(b, "server", out):gsub("'", "'\\''")
    os.execute(("sh -c '%s & echo $! >%s; wait' &"):format(cmd, pidfile))
    local ready = async.wait_for(function()
        return (support.readfile(out) or ""):find("SNIPPET READY\n", 1, true)
    end, 20)
    local pid = (support.readfile(pidfile) or ""):match("%d+")
    os.remove(pidfile)
    local function stop()
        if pid then
            -- pid is timeout's, which passes TERM on to the block; kill is
            -- the shell's builtin (no program that ASan's LD_PRELOAD reaches)
            os.execute("kill -TERM " .. pid .. " 2>/dev/null")
            async.wait_for(function() return not support.alive(pid) end, 10)
        end
    end
    local text = support.readfile(out) or ""
    assert(ready, b.name .. ": the server block never reached sb.run():\n" .. text
        .. (support.readfile(out .. ".err") or ""))
    local before = lines_of(text:sub(1, ready - 1))
    return stop, before
end

local redis_server
local function ensure_redis()
    local s = require("socket").tcp()
    s:settimeout(0.5)
    local up = s:connect("127.0.0.1", 6379)
    s:close()
    if up or redis_server then
        return
    end
    assert(redis_helper.have_redis(), "redis-server is not installed")
    redis_server = redis_helper.Redis.new():start(6379)
end

local function ensure_cert()
    assert(os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        .. "-keyout key.pem -out cert.pem >/dev/null 2>&1"))
end

local all, servers = {}, {}
for _, page in ipairs(PAGES) do
    for _, b in ipairs(blocks_of(page)) do
        all[#all + 1] = b
        if b.attrs.server then
            servers[b.attrs.server] = b
        end
    end
end

describe("documentation snippets", function()
    teardown(function()
        if redis_server then
            redis_server:stop()
        end
        os.remove(prelude_path)
    end)

    it("finds the pages' Lua blocks", function()
        assert.truthy(#all >= 12, "only " .. #all .. " blocks found")
    end)

    for _, b in ipairs(all) do
        it(b.name .. " runs and prints what the page says", function()
            if b.code:find("redis://", 1, true) then
                ensure_redis()
            end
            local cert = b.code:find("cert.pem", 1, true)
            if cert then
                ensure_cert()
            end
            local stop = function() end
            local ok, err = pcall(function()
                local want = promised(b.code)
                if b.attrs.server then
                    local before
                    stop, before = start_server(b)
                    assert.same(want, before)
                    return
                end
                if b.attrs.with then
                    local s = assert(servers[b.attrs.with], b.name .. ": no server block " .. b.attrs.with)
                    stop = start_server(s)
                end
                local out = os.tmpname()
                local rc = os.execute(command(b, "run", out))
                local text = support.readfile(out) or ""
                local errs = support.readfile(out .. ".err") or ""
                os.remove(out)
                os.remove(out .. ".err")
                assert.truthy(rc == true or rc == 0, b.name .. " failed:\n" .. text .. errs)
                assert.same(want, lines_of(text))
            end)
            stop()
            if cert then
                os.remove("cert.pem")
                os.remove("key.pem")
            end
            assert(ok, err)
        end)
    end
end)
