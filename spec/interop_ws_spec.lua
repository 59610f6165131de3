-- The npm ws client (8.18.0), which offers permessage-deflate by default,
-- against a switchboard server in this process: the negotiated extension,
-- 1 KiB JSON broadcasts arriving intact (and compressed on the wire, read
-- by a bare socket and inflated with Node's zlib), compressed messages
-- from ws reaching compressing and plain receivers.  The fixture
-- (spec/interop/ws) is installed by scripts/node-deps.sh.
local sb = require "switchboard"
local interop = require "interop_helper"

local FIXTURE = "spec/interop/ws"
local DEADLINE = 60

describe("npm ws with permessage-deflate", function()
    local state = { reason = interop.skip_reason(FIXTURE, { "ws" }), results = {} }

    setup(function()
        interop.run_fixture(state, FIXTURE, sb.listen, DEADLINE)
    end)

    for _, name in ipairs {
        "negotiates permessage-deflate without context takeover",
        "broadcast 1 KiB JSON arrives intact, compressed",
        "a compressed message from ws reaches the others",
    } do
        it(name, interop.check(state, name, pending))
    end
end)
