-- Fails (exit 1) when a public function of the API modules has no LDoc
-- comment: a `---` block right above `function X.name` / `function X:name`.
-- Names that start with "_" and metamethods are private.  The modules are
-- the `file` list of config.ld.
local function modules()
    local f = assert(io.open("config.ld"))
    local text = f:read("*a")
    f:close()
    local list = {}
    for path in text:match("file%s*=%s*(%b{})"):gmatch('"([^"]+)"') do
        list[#list + 1] = path
    end
    return list
end

local missing = 0
for _, path in ipairs(modules()) do
    local prev_doc, in_block = false, false
    local n = 0
    for line in io.lines(path) do
        n = n + 1
        local name = line:match("^function%s+[%w_]+[.:]([%w_]+)")
            or line:match("^[%w_]+%.([%w_]+)%s*=%s*function")
        if name and not name:match("^_") and not prev_doc then
            io.stderr:write(("%s:%d: public function '%s' has no doc comment (---)\n")
                :format(path, n, name))
            missing = missing + 1
        end
        if line:match("^%-%-%-") then
            in_block = true
        elseif not line:match("^%-%-") then
            in_block = false
        end
        prev_doc = in_block
    end
end
if missing > 0 then
    io.stderr:write(missing .. " public function(s) without a doc comment\n")
    os.exit(1)
end
print("every public function has a doc comment")
