-- The README's "Defaults" table is the users' copy of csrc/base/defaults.h:
-- each row must match core.defaults() and each default must have a row, so
-- a change on one side only fails here.
local core = require "switchboard.core"

-- README names: "sse.keepalive" is the table's sse_keepalive,
-- "longpoll.window" its longpoll_window, "api.max_body" its api_max_body,
-- "pusher.activity_timeout" its pusher_activity_timeout
local TABLES = { sse = true, longpoll = true, api = true, pusher = true }

local function table_name(readme_name)
    local t, rest = readme_name:match("^(%a+)%.(.+)$")
    return t and TABLES[t] and (t .. "_" .. rest) or readme_name
end

local function readme_name(name)
    local t, rest = name:match("^(%a+)_(.+)$")
    return t and TABLES[t] and (t .. "." .. rest) or name
end

-- { [name] = { value =, unit =, doc = } } from the README's rows, and the
-- lines that look like rows but do not parse
local function readme_defaults()
    local f = assert(io.open("README.md"))
    local text = f:read("*a")
    f:close()
    local section = text:match("\n#+ Defaults\n(.-)\n#")
    assert.is_string(section, "README has no 'Defaults' section")
    local rows, bad = {}, {}
    for line in section:gmatch("[^\n]+") do
        if line:match("^| `") then
            local name, value, unit, doc =
                line:match("^| `([%w_.]+)` | (%d+) | ([^|]-) | ([^|]-) |$")
            if name then
                rows[table_name(name)] = { value = tonumber(value), unit = unit, doc = doc }
            else
                bad[#bad + 1] = line
            end
        end
    end
    return rows, bad
end

-- The rows the README should have, for the failure message.
local function expected_rows(defaults)
    local names = {}
    for name in pairs(defaults) do
        names[#names + 1] = name
    end
    table.sort(names)
    local out = {}
    for _, name in ipairs(names) do
        local d = defaults[name]
        out[#out + 1] = ("| `%s` | %d | %s | %s |"):format(
            readme_name(name), d.value, d.unit, d.doc)
    end
    return table.concat(out, "\n")
end

describe("defaults", function()
    it("the README's Defaults table matches core.defaults(), row by row", function()
        local want = core.defaults()
        local got, bad = readme_defaults()
        assert.same({}, bad)
        assert.same(want, got, "README.md '### Defaults' should hold (in any order):\n"
            .. expected_rows(want))
    end)

    it("has every limit the Lua layer leaves to the C core", function()
        local d = core.defaults()
        for _, name in ipairs({ "max_message", "max_queue", "max_rate", "max_burst",
            "max_channels", "phoenix_timeout", "handshake_timeout", "max_header_bytes",
            "max_url", "ping_interval", "idle_timeout" }) do
            assert.is_table(d[name], name)
            assert.is_number(d[name].value, name)
            assert.is_string(d[name].unit, name)
            assert.is_string(d[name].doc, name)
        end
    end)

    it("gives each caller its own table", function()
        local a, b = core.defaults(), core.defaults()
        local max_message = a.max_message.value
        a.max_message.value = max_message + 1
        a.max_url = nil
        assert.equal(max_message, b.max_message.value)
        assert.equal(max_message, core.defaults().max_message.value)
        assert.is_table(core.defaults().max_url)
    end)

    it("is what switchboard.limits checks ping_interval and idle_timeout against", function()
        local limits = require "switchboard.limits"
        local d = core.defaults()
        -- idle_timeout given alone must exceed the default ping_interval
        assert.has_error(function()
            limits.resolve({ idle_timeout = d.ping_interval.value })
        end)
        assert.same({ idle_timeout = d.ping_interval.value + 1 },
            limits.resolve({ idle_timeout = d.ping_interval.value + 1 }))
        assert.has_error(function()
            limits.resolve({ ping_interval = d.idle_timeout.value })
        end)
    end)
end)
