std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
exclude_files = { "lua_modules", ".build", "**/node_modules" }
