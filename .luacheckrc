std = "max"
max_line_length = 130

files["spec"] = { std = "+busted" }
-- The fake server runs inside nginx, where ngx is a global.
files["spec/support/fake"] = { globals = { "ngx" } }
files["spec/support/openresty"] = { globals = { "ngx" } }
files["examples/nginx-gate"] = { globals = { "ngx" } }
-- Inside OpenResty the library reads the ngx global (when it exists).
files["lua"] = { read_globals = { "ngx" } }
