-- The rock: the rockspec lints, `luarocks make --deps-mode=none` installs
-- into a throwaway tree, and the module then loads from that tree alone
-- and works against the fake server.
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"

local LUA = os.getenv("LUA") or "lua5.4"
local ABI = _VERSION:match("%d+%.%d+") -- LuaJIT says 5.1
local ROCKSPEC = "rockspec/genesys-tokens-scm-1.rockspec"

local function capture(command)
  local p = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return out:gsub("exit=%d+%s*$", ""), tonumber(out:match("exit=(%d+)%s*$"))
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Where Debian keeps libcurl's header: luarocks does not look there itself.
local function curl_dirs()
  local cflags = capture("pkg-config --cflags-only-I libcurl")
  local incdir = cflags:match("%-I(%S+)") or "/usr/include"
  local libdir = capture("pkg-config --variable=libdir libcurl"):match("%S+") or "/usr/lib"
  return incdir, libdir
end

describe("the rock", function()
  local srv, work

  lazy_setup(function()
    srv = fake.start()
    work = capture("mktemp -d"):match("%S+")
  end)
  lazy_teardown(function()
    fake.stop()
    if work then fake.execute("rm -rf " .. q(work)) end
  end)

  it("lints clean", function()
    local out, code = capture("luarocks lint " .. ROCKSPEC)
    assert.equal(0, code, out)
  end)

  it("installs with luarocks make --deps-mode=none and loads from that tree alone", function()
    -- A copy of what the rockspec names, so the build leaves nothing here.
    assert(fake.execute(("mkdir -p %s/src/src && cp -r lua rockspec bin %s/src/ && cp src/*.c src/*.h %s/src/src/")
      :format(q(work), q(work), q(work))))
    local incdir, libdir = curl_dirs()
    local out, code = capture(("cd %s/src && luarocks --lua-version=%s --tree=%s/tree make --deps-mode=none %s "
      .. "CURL_INCDIR=%s CURL_LIBDIR=%s"):format(q(work), ABI, q(work), ROCKSPEC, incdir, libdir))
    assert.equal(0, code, out)

    local tree = work .. "/tree"
    local script = ([[
      local function searchpath(name, path) -- package.searchpath is 5.2+
        for template in path:gmatch("[^;]+") do
          local file = template:gsub("%%?", (name:gsub("%%.", "/")))
          local f = io.open(file)
          if f then f:close() return file end
        end
      end
      local core_path = searchpath("genesys.tokens.core", package.cpath)
      local lua_path = searchpath("genesys.tokens", package.path)
      local t = require "genesys.tokens"
      local c = t.new { base_url = %q, access_token = "tok-admin" }
      print(core_path, lua_path, assert(c:me()).organization.name)
    ]]):format(srv.http_url)
    local run = ("cd %s && LUA_PATH=%s LUA_CPATH=%s %s -e %s"):format(q(work),
      q(tree .. "/share/lua/" .. ABI .. "/?.lua;;"), q(tree .. "/lib/lua/" .. ABI .. "/?.so;;"), LUA, q(script))
    out, code = capture(run)
    assert.equal(0, code, out)
    local core_path, lua_path, org = out:match("^(%S+)\t(%S+)\t(.-)\n$")
    assert.equal(tree .. "/lib/lua/" .. ABI .. "/genesys/tokens/core.so", core_path)
    assert.equal(tree .. "/share/lua/" .. ABI .. "/genesys/tokens.lua", lua_path)
    assert.equal("Acme Corp", org)

    -- The command is installed too, and runs from the tree once its paths
    -- are set the way luarocks says (`luarocks path`).
    out, code = capture(("cd %s && eval \"$(luarocks --lua-version=%s --tree=%s path)\" && "
      .. "GENESYSCLOUD_BASE_URL=%s GENESYSCLOUD_ACCESS_TOKEN=tok-admin %s me")
      :format(q(work), ABI, q(tree), srv.http_url, q(tree .. "/bin/genesys-tokens")))
    assert.equal(0, code, out)
    assert.matches("Organization:%s+Acme Corp", out)
  end)

  it("installs for nginx's LuaJIT, and examples/nginx-gate runs from that tree alone", function()
    assert(fake.execute(("rm -rf %s/src && mkdir -p %s/src/src && cp -r lua rockspec bin %s/src/ "
      .. "&& cp src/*.c src/*.h %s/src/src/"):format(q(work), q(work), q(work), q(work))))
    local incdir, libdir = curl_dirs()
    local jit = work .. "/jit"
    local out, code = capture(("cd %s/src && luarocks --lua-version=5.1 --tree=%s make --deps-mode=none %s "
      .. "CURL_INCDIR=%s CURL_LIBDIR=%s LUA_INCDIR=/usr/include/luajit-2.1"):format(q(work), q(jit), ROCKSPEC, incdir, libdir))
    assert.equal(0, code, out)
    for _, m in ipairs { "gate", "gate/settings", "gate/verdict", "gate/metrics" } do
      assert.truthy(nginx.read_file(jit .. "/share/lua/5.1/genesys/tokens/" .. m .. ".lua"), m .. " is not installed")
    end

    -- The example as shipped, with only its paths and ports replaced, and
    -- nothing from this checkout on nginx's Lua paths.
    local dir = nginx.tempdir("rockgate")
    local conf = assert(nginx.read_file("examples/nginx-gate/nginx.conf"))
    local function render(p)
      local c = conf
      for _, r in ipairs {
        { "127.0.0.1:8080", "127.0.0.1:" .. p[1] }, { "127.0.0.1:8081", "127.0.0.1:" .. p[2] },
        { "/usr/local/share/lua/5.1", jit .. "/share/lua/5.1" }, { "/usr/local/lib/lua/5.1", jit .. "/lib/lua/5.1" },
        { "/etc/ssl/certs/ca-certificates.crt", srv.ca_file }, { "/run/nginx-genesys-gate.pid", dir .. "/nginx.pid" },
        { "/var/log/nginx/genesys-gate.error.log", dir .. "/error.log" },
        { "/var/log/nginx/genesys-gate.access.log", dir .. "/access.log" },
        { "http {", "http {\n" .. nginx.temp_paths(dir) },
      } do
        c = nginx.replace_all(c, r[1], r[2], "examples/nginx-gate/nginx.conf")
      end
      local last = assert(c:find("}%s*$"))
      return nginx.user_line() .. "\n" .. c:sub(1, last - 1)
        .. ("server { listen 127.0.0.1:%d; location / { return 200 'upstream ok'; } }\n}\n"):format(p[2])
    end
    local ok, pid, ports = pcall(nginx.start, {
      dir = dir, nports = 2, render = render,
      env = { GENESYSCLOUD_BASE_URL = srv.http_url },
      ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/" end,
      ready = function(status) return status == 401 end,
    })
    local checked, err = false, "nginx did not start"
    if ok then checked, err = pcall(function()
      local status, body = nginx.request("http://127.0.0.1:" .. ports[1] .. "/", "GET", nil, 10,
        { authorization = "Bearer tok-alice" })
      assert.equal(200, status)
      assert.equal("upstream ok", body)
      assert.matches("genesys gate: checking tokens at " .. srv.http_url:gsub("%p", "%%%0"),
        nginx.read_file(dir .. "/error.log"))
    end) end
    if ok then nginx.stop(pid) end
    nginx.remove_tempdir(dir)
    assert(ok, pid)
    assert(checked, err)
  end)
end)
