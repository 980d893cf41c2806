std = "max"
max_line_length = 130

files["spec"] = { std = "+busted" }
-- The fake server runs inside nginx, where ngx is a global.
files["spec/support/fake"] = { globals = { "ngx" } }
files["spec/support/openresty"] = { globals = { "ngx" } }
files["examples/nginx-gate"] = { globals = { "ngx" } }
-- The gate sets response headers through ngx.header.
files["lua/genesys/tokens/gate.lua"] = { read_globals = { ngx = { fields = {
  header = { read_only = false, other_fields = true } }, other_fields = true } } }
-- Inside OpenResty the library reads the ngx global (when it exists).
files["lua"] = { read_globals = { "ngx" } }
-- A wrk(1) script: wrk calls these globals and provides wrk and tid.
files["spec/bench/wrk_tokens.lua"] = { std = "luajit", globals = { "setup", "init", "request", "done", "tid", "wrk" } }
