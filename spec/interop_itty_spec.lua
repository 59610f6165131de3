-- The real npm itty-sockets 0.6.1 client, under Node with `ws` as its
-- WebSocket, against switchboard's relay running in this process.  The
-- fixture (spec/interop/itty: package.json, package-lock.json, run.mjs)
-- is installed by `npm ci` from scripts/node-deps.sh during `make test`.
-- Node runs in the background and writes its results to a file, which
-- this spec waits for while it turns the loop, up to a deadline.
local relay = require "switchboard.relay"
local interop = require "interop_helper"

local FIXTURE = "spec/interop/itty"
local DEADLINE = 60

describe("npm itty-sockets 0.6.1 against the relay", function()
    local state = { reason = interop.skip_reason(FIXTURE, { "itty-sockets", "ws" }), results = {} }

    setup(function()
        interop.run_fixture(state, FIXTURE, relay.listen, DEADLINE)
    end)

    for _, name in ipairs {
        "join counts", "alias, as, announce and echo", "direct messages", "error for an unknown uid",
        "1000 messages in order", "push then close", "ArrayBuffers beside itty clients",
    } do
        it(name, interop.check(state, name, pending))
    end
end)
