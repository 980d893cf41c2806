-- The rock: both rockspecs lint, name every Lua file and are the same rock
-- but for version and source; `luarocks make --deps-mode=none` installs each
-- into a throwaway tree with no CURL_* variables, and the module and the
-- command then work from that tree alone against the fake server; the
-- README's Install commands work as written; and the nginx gate example runs
-- from a tree built for LuaJIT.
--
-- luarocks' builtin build leaves its objects (src/*.o) and the module
-- (genesys/tokens/core.so) in the directory it runs in, so every install
-- runs in a copy of the checkout. Every command runs under timeout(1).
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"

local LUA = os.getenv("LUA") or "lua5.4"
local ABI = _VERSION:match("%d+%.%d+") -- LuaJIT says 5.1
local ROCKSPECS = { "rockspec/genesys-tokens-scm-1.rockspec", "rockspec/genesys-tokens-0.1.0-1.rockspec" }
local INSTALL_TIMEOUT = 300 -- seconds for one luarocks make
local RUN_TIMEOUT = 60      -- seconds for one call from a tree

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Output (stdout and stderr) and exit code of a shell command run under
-- timeout(1), which answers 124 when the time is up.
local function capture(command, seconds)
  local p = assert(io.popen(("timeout -k 5 %d sh -c %s 2>&1; echo \"exit=$?\"")
    :format(seconds or RUN_TIMEOUT, q(command))))
  local out = p:read("*a")
  p:close()
  return (out:gsub("exit=%d+%s*$", "")), tonumber(out:match("exit=(%d+)%s*$"))
end

-- A rockspec's fields, read the way luarocks reads it (a Lua file of globals).
local function load_rockspec(path)
  local env = {}
  local chunk
  if setfenv then
    chunk = assert(loadfile(path))
    setfenv(chunk, env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- What luarocks defaults to without --lua-version (Debian's 3.8: 5.1).
local default_lua_version
local function luarocks_default_version()
  if not default_lua_version then
    local out, code = capture("luarocks config lua_version")
    assert.equal(0, code, out)
    default_lua_version = assert(out:match("^%s*(%d+%.%d+)%s*$"), out)
  end
  return default_lua_version
end

-- The Install section's luarocks commands, backslash continuations joined.
local function readme_install_commands()
  local readme = assert(nginx.read_file("README.md"))
  local section = assert(readme:match("\n## Install\n(.-)\n## "), "README.md has no Install section")
  local commands = {}
  for block in section:gmatch("```sh\n(.-)```") do
    block = block:gsub("\\\n%s*", " ")
    for line in block:gmatch("[^\n]+") do
      if line:match("^luarocks%s") then commands[#commands + 1] = (line:gsub("%s+$", "")) end
    end
  end
  return commands
end

describe("the rockspecs", function()
  local specs = {}
  lazy_setup(function()
    for _, path in ipairs(ROCKSPECS) do specs[path] = load_rockspec(path) end
  end)

  it("lint clean", function()
    for _, path in ipairs(ROCKSPECS) do
      local out, code = capture("luarocks lint " .. q(path))
      assert.equal(0, code, path .. ": " .. out)
    end
  end)

  it("declare libcurl by its library alone (Debian keeps curl.h where luarocks does not look)", function()
    for _, path in ipairs(ROCKSPECS) do
      assert.same({ CURL = { library = "curl" } }, specs[path].external_dependencies, path)
      local core = specs[path].build.modules["genesys.tokens.core"]
      assert.same({ "curl" }, core.libraries, path)
      assert.same({ "$(CURL_LIBDIR)" }, core.libdirs, path)
    end
  end)

  it("are the same rock but for version and source tag", function()
    local scm, rel = specs[ROCKSPECS[1]], specs[ROCKSPECS[2]]
    assert.equal("scm-1", scm.version)
    assert.equal("0.1.0-1", rel.version)
    assert.equal("v0.1.0", rel.source.tag)
    assert.is_nil(scm.source.tag)
    assert.equal(scm.source.url, rel.source.url)
    for _, field in ipairs { "rockspec_format", "package", "description", "dependencies",
      "external_dependencies", "build", "test_dependencies", "test" } do
      assert.same(scm[field], rel[field], field)
    end
    assert.same(sorted_keys(scm), sorted_keys(rel))
  end)

  it("carry the version the core reports, and the CHANGELOG has it", function()
    local upstream = specs[ROCKSPECS[2]].version:match("^(.-)%-%d+$")
    local header = assert(nginx.read_file("src/gt_client.h"))
    assert.equal(upstream, header:match('#define GT_VERSION "([^"]+)"'))
    assert.equal(upstream, require("genesys.tokens.core")._VERSION)
    local changelog = assert(nginx.read_file("CHANGELOG.md"))
    assert.truthy(changelog:find("\n## [" .. upstream .. "] - ", 1, true), "CHANGELOG.md has no " .. upstream)
  end)

  it("list every lua/**/*.lua file as its module, and only files that exist", function()
    local files = {}
    local p = assert(io.popen("find lua -name '*.lua' | LC_ALL=C sort"))
    for file in p:lines() do files[#files + 1] = file end
    p:close()
    assert.truthy(#files > 10, "found only " .. #files .. " files under lua/")
    for _, path in ipairs(ROCKSPECS) do
      local modules = specs[path].build.modules
      for _, file in ipairs(files) do
        local name = file:gsub("^lua/", ""):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
        assert.equal(file, modules[name], path .. " does not install " .. file .. " as " .. name)
      end
      for name, m in pairs(modules) do
        for _, f in ipairs(type(m) == "string" and { m } or m.sources) do
          assert.truthy(nginx.read_file(f), path .. ": " .. name .. " names " .. f .. ", which does not exist")
        end
      end
      for _, f in pairs(specs[path].build.install.bin) do
        assert.truthy(nginx.read_file(f), path .. ": no " .. f)
      end
    end
    assert.same(sorted_keys(specs[ROCKSPECS[1]].build.modules), sorted_keys(specs[ROCKSPECS[2]].build.modules))
  end)

  it("build every C file in src/ into the core or the command's signals module, as the Makefile does", function()
    local sources = {}
    local p = assert(io.popen("ls src/*.c | LC_ALL=C sort"))
    for file in p:lines() do sources[#sources + 1] = file end
    p:close()
    for _, rockspec in ipairs(ROCKSPECS) do
      local modules = specs[rockspec].build.modules
      assert.same({ "src/lua_signals.c" }, modules["genesys.tokens.cli.signals"].sources)
      local listed = { "src/lua_signals.c" }
      for _, f in ipairs(modules["genesys.tokens.core"].sources) do listed[#listed + 1] = f end
      table.sort(listed)
      assert.same(sources, listed)
    end
  end)
end)

describe("the rock", function()
  local srv, work

  -- A copy of the checkout's files the rock is built from, in a new dir.
  local function checkout_copy(name)
    local dir = work .. "/" .. name
    assert(fake.execute(("mkdir -p %s && cp -r lua rockspec bin src README.md LICENSE CHANGELOG.md %s/")
      :format(q(dir), q(dir))))
    return dir
  end

  -- me() through `require "genesys.tokens"` and through the installed
  -- command, with every genesys module loaded from tree (lua_version is the
  -- tree's, interp the interpreter to run the script on).
  local function check_tree(tree, lua_version, interp)
    local script = ([[
      local function searchpath(name, path) -- package.searchpath is 5.2+
        for template in path:gmatch("[^;]+") do
          local file = template:gsub("%%?", (name:gsub("%%.", "/")))
          local f = io.open(file)
          if f then f:close() return file end
        end
      end
      local t = require "genesys.tokens"
      local c = t.new { base_url = %q, access_token = "tok-admin" }
      print(assert(c:me()).organization.name)
      for name in pairs(package.loaded) do
        if name:match("^genesys") then
          print(name, searchpath(name, package.path) or searchpath(name, package.cpath))
        end
      end
    ]]):format(srv.http_url)
    local out, code = capture(("cd %s && LUA_PATH=%s LUA_CPATH=%s %s -e %s"):format(q(work),
      q(tree .. "/share/lua/" .. lua_version .. "/?.lua;;"), q(tree .. "/lib/lua/" .. lua_version .. "/?.so;;"),
      interp, q(script)))
    assert.equal(0, code, out)
    assert.equal("Acme Corp", out:match("^(.-)\n"), out)
    local seen = {}
    for name, file in out:gmatch("\n(genesys[%w._]*)\t([^\n]*)") do
      seen[name] = true
      assert.equal(tree, file:sub(1, #tree), name .. " came from " .. file)
    end
    assert.truthy(seen["genesys.tokens"] and seen["genesys.tokens.core"] and seen["genesys.tokens.client"], out)

    -- The command luarocks wrote into the tree's bin/, with the paths set
    -- the way luarocks says (`luarocks path`).
    out, code = capture(("cd %s && eval \"$(luarocks --lua-version=%s --tree=%s path)\" && "
      .. "GENESYSCLOUD_BASE_URL=%s GENESYSCLOUD_ACCESS_TOKEN=tok-admin %s me")
      :format(q(work), lua_version, q(tree), srv.http_url, q(tree .. "/bin/genesys-tokens")))
    assert.equal(0, code, out)
    assert.matches("Organization:%s+Acme Corp", out)
  end

  lazy_setup(function()
    srv = fake.start()
    work = capture("mktemp -d"):match("^(/%S+)\n$")
    assert(work, "mktemp failed")
  end)
  lazy_teardown(function()
    fake.stop()
    if work then fake.execute("rm -rf " .. q(work)) end
  end)

  for i, rockspec in ipairs(ROCKSPECS) do
    it("installs " .. rockspec .. " with luarocks make --deps-mode=none and no CURL_* variables, "
      .. "and works from that tree alone", function()
      local src = checkout_copy("src" .. i)
      local tree = work .. "/tree" .. i
      local version_flag = ABI == luarocks_default_version() and "" or " --lua-version=" .. ABI
      local out, code = capture(("cd %s && luarocks%s --tree=%s make --deps-mode=none %s")
        :format(q(src), version_flag, q(tree), rockspec), INSTALL_TIMEOUT)
      assert.equal(0, code, out)
      local version = load_rockspec(rockspec).version
      assert.truthy(nginx.read_file(("%s/lib/luarocks/rocks-%s/genesys-tokens/%s/rock_manifest"):format(tree, ABI, version)),
        "no " .. version .. " in the tree:\n" .. out)
      check_tree(tree, ABI, LUA)
    end)
  end

  it("installs with each luarocks command of the README's Install section, as written but for --tree", function()
    local commands = readme_install_commands()
    assert.equal("luarocks make --deps-mode=none rockspec/genesys-tokens-scm-1.rockspec", commands[1])
    assert.truthy(#commands >= 3, "expected the default, 5.4 and OpenResty commands")
    for i, command in ipairs(commands) do
      assert.falsy(command:find("CURL_", 1, true), command)
      local tree = work .. "/readme" .. i
      local run, n = command:gsub("%-%-tree=%S+", "--tree=" .. tree)
      if n == 0 then run = command:gsub("^luarocks ", "luarocks --tree=" .. tree .. " ") end
      local src = checkout_copy("readme-src" .. i)
      local out, code = capture("cd " .. q(src) .. " && " .. run, INSTALL_TIMEOUT)
      assert.equal(0, code, command .. "\n" .. out)
      local lua_version = command:match("%-%-lua%-version=(%d+%.%d+)") or luarocks_default_version()
      local interp = command:find("luajit", 1, true) and "luajit" or "lua" .. lua_version
      check_tree(tree, lua_version, interp)
    end
  end)

  it("installs for nginx's LuaJIT, and examples/nginx-gate runs from that tree alone", function()
    local src = checkout_copy("src-jit")
    local jit = work .. "/jit"
    local out, code = capture(("cd %s && luarocks --lua-version=5.1 --tree=%s make --deps-mode=none %s "
      .. "LUA_INCDIR=/usr/include/luajit-2.1"):format(q(src), q(jit), ROCKSPECS[1]), INSTALL_TIMEOUT)
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
