-- The README's hub tour must run as printed and print what it claims.
describe("README", function()
    it("hub tour runs and prints what the comments say", function()
        local f = assert(io.open("README.md"))
        local text = f:read("*a")
        f:close()
        local tour = text:match("## A tour of the hub.-```lua\n(.-)```")
        assert.is_string(tour)
        local out = {}
        local env = setmetatable({
            print = function(...)
                local parts = {}
                for i = 1, select("#", ...) do
                    parts[i] = tostring((select(i, ...)))
                end
                out[#out + 1] = table.concat(parts, " ")
            end,
        }, { __index = _G })
        local chunk = assert((loadstring or load)(tour, "README", "t", env))
        if setfenv then
            setfenv(chunk, env)
        end
        chunk()
        assert.same({ "ana is here", "laptop got chat hi", "1", "true", "ana left" }, out)
    end)
end)
