-- The C hub with every allocation failing in turn (spec/c/hub_oom.c, run
-- under valgrind by scripts/hub-oom.sh): ENOMEM must leave the hub state
-- unchanged and nothing may leak.
describe("C hub under allocation failure", function()
    it("returns ENOMEM with the state unchanged and leaks nothing", function()
        local log = ".build/hub-oom-" .. (os.getenv("SB_SPEC_LUA") or "lua") .. ".log"
        local rc = os.execute("bash scripts/hub-oom.sh >" .. log .. " 2>&1")
        local f = io.open(log)
        local out = f and f:read("*a") or ""
        if f then f:close() end
        assert(rc == true or rc == 0, "scripts/hub-oom.sh failed:\n" .. out)
        assert.matches("op 0 history 0: %d+ failing allocations survived", out)
    end)
end)
