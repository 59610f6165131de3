--- What the example scripts share: option parsing, the "listening on"
-- line and a clean exit on SIGINT/SIGTERM (all in switchboard.cli, which
-- the installed `switchboard` command uses too), plus where the examples'
-- static files are.
local cli = require "switchboard.cli"

local M = {
    parse_args = cli.parse_args,
    run_until_signal = cli.run_until_signal,
    shutdown = cli.shutdown,
    main = cli.main,
}

local here = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$")
if here == nil or here == "" then
    here = "./"
end

--- Directory of the example scripts, with a trailing slash.
M.dir = here

--- The examples' static files (examples/public).
M.public = here .. "public"

--- True when the chunk runs as a script rather than through require:
-- require passes the module name as the first argument.
function M.is_script(modname, first)
    return first ~= modname
end

return M
