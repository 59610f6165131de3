-- The npm ws client (8.18.0), which offers permessage-deflate by default,
-- against a switchboard server in this process: the negotiated extension,
-- 1 KiB JSON broadcasts arriving intact (and compressed on the wire, read
-- by a bare socket and inflated with Node's zlib), compressed messages
-- from ws reaching compressing and plain receivers.  The fixture
-- (spec/interop/ws) is installed by scripts/node-deps.sh.
local sb = require "switchboard"
local async = require "async_helpers"
local interop = require "interop_helper"

local FIXTURE = "spec/interop/ws"
local DEADLINE = 60

describe("npm ws with permessage-deflate", function()
    local state = { reason = interop.skip_reason(FIXTURE, { "ws" }), results = {} }

    setup(function()
        if state.reason then
            return
        end
        local server = assert(sb.listen({ port = 0 }))
        local out, log, pid = interop.spawn(FIXTURE, "run.mjs", { ("ws://127.0.0.1:%d/c/"):format(server.port) })
        state.results, state.failure = interop.results(out, log, pid, DEADLINE)
        state.results = state.results or {}
        server:close()
        async.settle(0.05)
    end)

    for _, name in ipairs {
        "negotiates permessage-deflate without context takeover",
        "broadcast 1 KiB JSON arrives intact, compressed",
        "a compressed message from ws reaches the others",
    } do
        it(name, interop.check(state, name, pending))
    end
end)
