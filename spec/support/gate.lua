-- An nginx hosting genesys.tokens.gate for the specs: `workers` worker
-- processes, the gate set up with the settings given (Lua source of a
-- table's fields), in front of an upstream that answers with the request
-- headers it got as JSON, checking tokens against the fake Genesys Cloud.
-- Spec-only locations: /_spec/dump (every shared dict's keys and values,
-- base64), /_spec/forget (gate.forget of the X-Forget header), /_spec/flush
-- (every dict but those named *metrics*),
-- /_spec/hmac (how many of the gate's cache keys differ from ngx.hmac_sha1's).
local nginx = require "spec.support.nginx"

local M = {}

local ROOT = nginx.dir_of_caller():gsub("/spec/support$", "")

local CONF = [[
%s
load_module %s/ndk_http_module.so;
load_module %s/ngx_http_lua_module.so;
worker_processes %d;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 4096; }
http {
%s
    access_log %s/access.log;
    lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;;";
    lua_package_cpath "%s/build/luajit/?.so;;";
    lua_shared_dict genesys_gate 10m;
    lua_ssl_trusted_certificate %s;
    large_client_header_buffers 4 2m;
    %s
    init_by_lua_block {
        require("genesys.tokens.gate").setup { %s }
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            access_by_lua_block { require("genesys.tokens.gate").check() }
            proxy_pass http://127.0.0.1:%d;
        }
        location = /metrics {
            content_by_lua_block { require("genesys.tokens.gate").metrics() }
        }
        location = /_spec/dump {
            content_by_lua_block {
                local out = {}
                for name, d in pairs(ngx.shared) do
                    for _, k in ipairs(d:get_keys(0)) do
                        out[#out + 1] = name .. " " .. ngx.encode_base64(k) .. " "
                            .. ngx.encode_base64(tostring(d:get(k)))
                    end
                end
                ngx.print(table.concat(out, "\n"))
            }
        }
        location = /_spec/forget {
            content_by_lua_block { ngx.print(tostring(require("genesys.tokens.gate").forget(ngx.var.http_x_forget))) }
        }
        location = /_spec/hmac {
            content_by_lua_block {
                -- the gate's keys against ngx.hmac_sha1 (OpenSSL's HMAC)
                local keyer = require("genesys.tokens.gate")._keyer
                local bad = 0
                for _, key in ipairs { "", "k", ("s"):rep(32), ("\255"):rep(64) } do
                    for _, msg in ipairs { "", "tok-alice", ("m"):rep(55), ("m"):rep(64), ("x"):rep(5000) } do
                        if keyer(key)(msg) ~= "v:" .. ngx.hmac_sha1(key, msg) then bad = bad + 1 end
                    end
                end
                ngx.print(bad)
            }
        }
        location = /_spec/flush {
            content_by_lua_block {
                for name, d in pairs(ngx.shared) do
                    if not name:find("metrics") then d:flush_all() end
                end
                ngx.print("flushed")
            }
        }
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            default_type application/json;
            content_by_lua_block {
                ngx.print(require("cjson").encode { headers = ngx.req.get_headers(0, true), method = ngx.req.get_method() })
            }
        }
    }
}
]]

--- The nginx.conf text for ports { gate, upstream }.
function M.conf(dir, ports, o)
  return CONF:format(nginx.user_line(), nginx.MODULES_DIR, nginx.MODULES_DIR, o.workers or 2, dir, dir,
    nginx.temp_paths(dir), dir, ROOT, ROOT, ROOT, o.ca_file, o.http or "", o.settings, ports[1], ports[2], ports[2])
end

--- Starts it: { pid, dir, url, port }. `o.srv` is the fake (fake.start()).
function M.start(o)
  assert(nginx.execute("cd " .. nginx.q(ROOT) .. " && make -s LUA_VERSION=luajit >/dev/null"),
    "could not build the C core for LuaJIT (make LUA_VERSION=luajit)")
  local dir = nginx.tempdir("gate")
  local ok, pid, ports = pcall(nginx.start, {
    dir = dir, nports = 2,
    env = { GENESYSCLOUD_BASE_URL = o.base_url or o.srv.http_url, GENESYSCLOUD_REGION = "" },
    render = function(p) return M.conf(dir, p, { workers = o.workers, ca_file = o.srv.ca_file,
      settings = o.settings, http = o.http }) end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/_spec/flush" end,
    ready = function(status) return status == 200 end,
  })
  if not ok then
    nginx.remove_tempdir(dir)
    error(pid, 2)
  end
  return { pid = pid, dir = dir, port = ports[1], url = "http://127.0.0.1:" .. ports[1] }
end

function M.stop(g)
  if g then
    nginx.stop(g.pid)
    nginx.remove_tempdir(g.dir)
  end
end

--- Starts a gate configured with `settings` for two seconds (nginx -t
--- does not run init_by_lua): ok (it was still up), and nginx's output.
function M.try_settings(settings, srv)
  local dir = nginx.tempdir("gatet")
  nginx.write_file(dir .. "/nginx.conf", M.conf(dir, nginx.free_ports(2), { ca_file = srv.ca_file, settings = settings }))
  local out = nginx.capture(("cd %s && GENESYSCLOUD_BASE_URL=%s timeout 2 %s -p %s -c %s -g %s 2>&1; echo \"exit=$?\"")
    :format(nginx.q(ROOT), nginx.q(srv.http_url), nginx.q(nginx.NGINX), nginx.q(dir .. "/"),
    nginx.q(dir .. "/nginx.conf"), nginx.q("daemon off; master_process on;")))
  nginx.remove_tempdir(dir)
  return out:match("exit=124%s*$") ~= nil, out
end

return M
