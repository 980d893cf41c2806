-- The fast fake endpoint of the sequential benchmark: nginx (no Lua)
-- answering GET /api/v2/tokens/me with a fixed ~600-byte TokenInfo, an
-- ININ-Correlation-Id and inin-ratelimit-* headers that allow far more than
-- any run sends (so no client paces itself), over plain HTTP keep-alive on
-- 127.0.0.1. One worker, no access log.
--
--   local fast = require "spec.bench.fast_server"
--   local srv = fast.start()   -- srv.url, srv.port, srv.pid, srv.dir
--   fast.stop(srv)
local nginx = require "spec.support.nginx"

local M = {}

-- A realistic TokenInfo (the shape of GET /api/v2/tokens/me), ~600 bytes.
-- No ' (nginx string quote) and no $ (nginx variables) inside.
M.BODY = table.concat {
  '{"organization":{"id":"5c3e1b8a-7f2d-4c61-9a0e-2b7d94f1c3a6","name":"Acme Contact Center"},',
  '"homeOrganization":{"id":"5c3e1b8a-7f2d-4c61-9a0e-2b7d94f1c3a6","name":"Acme Contact Center"},',
  '"authorizedScope":["conversations","routing","users:readonly","oauth:token:delete"],',
  '"OAuthClient":{"id":"0f9a6d2e-3b4c-4e5f-8a1b-7c6d5e4f3a2b","name":"Acme Gateway",',
  '"authorizedGrantType":"CLIENT_CREDENTIALS","scope":["admin"],',
  '"roleDivisions":[{"roleId":"d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6","divisionId":"*"}],',
  '"state":"active","organization":{"id":"5c3e1b8a-7f2d-4c61-9a0e-2b7d94f1c3a6"}},',
  '"dateTokenIdles":"2031-01-01T14:00:00.000Z"}',
}
assert(not M.BODY:find("[$']"), "the body must not hold ' or $")

local function render(dir, port)
  return table.concat({
    nginx.user_line(),
    "worker_processes 1;",
    "pid " .. dir .. "/nginx.pid;",
    "error_log " .. dir .. "/error.log warn;",
    "worker_rlimit_nofile 4096;",
    "events { worker_connections 2048; }",
    "http {",
    "    access_log off;",
    "    server_tokens off;",
    "    keepalive_requests 10000000;",
    "    keepalive_timeout 75s;",
    "    client_body_temp_path " .. dir .. "/tmp/body;",
    "    proxy_temp_path " .. dir .. "/tmp/proxy;",
    "    fastcgi_temp_path " .. dir .. "/tmp/fastcgi;",
    "    uwsgi_temp_path " .. dir .. "/tmp/uwsgi;",
    "    scgi_temp_path " .. dir .. "/tmp/scgi;",
    "    server {",
    "        listen 127.0.0.1:" .. port .. ";",
    "        location = /api/v2/tokens/me {",
    "            default_type application/json;",
    "            add_header ININ-Correlation-Id 8d2f6c1e-4a7b-4e3d-9c5f-1b0a2e3d4c5f;",
    "            add_header inin-ratelimit-count 1;",
    "            add_header inin-ratelimit-allowed 100000000;",
    "            add_header inin-ratelimit-reset 60;",
    "            return 200 '" .. M.BODY .. "';",
    "        }",
    "        location = /_bench/ping { return 200 'pong'; }",
    "    }",
    "}",
    "",
  }, "\n")
end

--- Starts the endpoint; raises with nginx's log when it cannot.
function M.start()
  local dir = nginx.tempdir("benchfast")
  local ok, pid, ports = pcall(nginx.start, {
    dir = dir, nports = 1,
    render = function(p) return render(dir, p[1]) end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/_bench/ping" end,
    ready = function(status, body) return status == 200 and body == "pong" end,
  })
  if not ok then
    nginx.remove_tempdir(dir)
    error(pid, 2)
  end
  return { pid = pid, port = ports[1], dir = dir, url = "http://127.0.0.1:" .. ports[1] }
end

--- Stops it by pid and removes its temp dir; safe to call twice.
function M.stop(srv)
  if srv and srv.pid then
    nginx.stop(srv.pid)
    srv.pid = nil
    nginx.remove_tempdir(srv.dir)
  end
end

return M
