-- core.json_decode: the C decoder that hands hooks Lua values (Phoenix
-- payloads, native messages, POST /sse bodies) must give what
-- switchboard.json's decode gives for the same text, null included.
local core = require "switchboard.core"
local json = require "switchboard.json"

local CASES = {
    '{}', '[]', '0', '-0', '3', '-17', '3.0', '1e2', '2.5', '-1.25e-3', '1e300',
    '9007199254740993', '123456789012345678901234567890',
    '"' .. ("1"):rep(10) .. '"', '"plain"', '""', '"a\\"b\\\\c\\/d"',
    '"\\b\\f\\n\\r\\t"', '"\\u00e9\\u20ac"', '"\\ud83d\\ude00"', '"caf\195\169"',
    'true', 'false', 'null', '[null, 1, null]', '{"a": null}',
    '[1, [2, [3, [4]]], {"x": {"y": []}}]',
    '{"a": 1, "a": 2}', ' \t\n{ "k" : [ true , false ] } \r\n',
    '{"nested": {"list": [1, 2.5, "s", {"deep": [[]]}]}, "n": -0.5}',
    '0.' .. ("0"):rep(150) .. '1',
}

-- Deep equality where json.null compares by identity and numbers by value
-- and, on 5.3+, by subtype (3 vs 3.0 print differently).
local function same(a, b)
    if type(a) ~= type(b) then
        return false
    end
    if type(a) == "number" and math.type and math.type(a) ~= math.type(b) then
        return false
    end
    if type(a) ~= "table" then
        return a == b or (a ~= a and b ~= b)
    end
    for k, v in pairs(a) do
        if not same(v, b[k]) then
            return false
        end
    end
    for k in pairs(b) do
        if a[k] == nil then
            return false
        end
    end
    return true
end

describe("core.json_decode", function()
    it("gives what switchboard.json gives", function()
        for _, text in ipairs(CASES) do
            local want = json.decode(text)
            local got = core.json_decode(text)
            assert.is_true(same(want, got), text)
        end
    end)

    it("uses switchboard.json's null", function()
        assert.equal(json.null, core.json_decode("null"))
        assert.equal(json.null, core.json_decode("[null]")[1])
        assert.equal(3, #core.json_decode("[null, null, null]"))
    end)

    it("answers nil and a position for text that is not JSON", function()
        for _, text in ipairs({ "", "{", "[1,]", "undefined", '"\\x"', "01", "[1] 2" }) do
            local v, err = core.json_decode(text)
            assert.is_nil(v, text)
            assert.matches("byte %d+", err)
        end
    end)

    it("refuses more nesting than the protocols accept", function()
        assert.is_table(core.json_decode(("["):rep(64) .. ("]"):rep(64)))
        assert.is_nil(core.json_decode(("["):rep(65) .. ("]"):rep(65)))
    end)
end)
