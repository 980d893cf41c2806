-- The API reference (make docs): LDoc builds it from the public modules'
-- doc comments without a single warning, each module gets its page with
-- its public functions and none of the internal ones, and a warning does
-- fail the build. ldoc comes from `make deps` (lua-ldoc): without it this
-- fails, it is not skipped.

local function capture(command)
  local p = assert(io.popen(command .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  return out:gsub("exit=%d+%s*$", ""), tonumber(out:match("exit=(%d+)%s*$"))
end

local nginx = require "spec.support.nginx"
local q, read = nginx.q, nginx.read_file

-- The anchors LDoc writes for documented items: <a name = "me"></a>.
local function anchors(html)
  local set = {}
  for name in html:gmatch('<a name = "([^"]+)"></a>') do set[name] = true end
  return set
end

local PAGES = {
  ["genesys.tokens"] = { "new", "configure", "me", "verify", "revoke_me", "revoke", "idle_timeout",
    "set_idle_timeout", "revoke_many", "last_response" },
  ["genesys.tokens.client"] = { "Client:me", "Client:verify", "Client:revoke_me", "Client:revoke",
    "Client:idle_timeout", "Client:set_idle_timeout", "Client:revoke_many", "Client:last_response",
    "Client:close" },
  ["genesys.tokens.errors"] = { "is", "Error" },
  ["genesys.tokens.gate"] = { "setup", "check", "forget", "token", "client", "metrics" },
}

-- Internal functions (@local, or no doc comment) that must not appear.
local HIDDEN = {
  ["genesys.tokens.client"] = { "new", "client.new", "run", "revoke_many" },
  ["genesys.tokens.errors"] = { "new", "shown", "interrupted", "from_failure", "from_response", "redact" },
  ["genesys.tokens.gate"] = { "_keyer", "keyer", "lead", "validate" },
}

describe("make docs", function()
  local out, code

  lazy_setup(function()
    local where = capture("command -v ldoc")
    assert(where:find("ldoc"), "ldoc is not installed: run `make deps` (Debian's lua-ldoc)")
    out, code = capture("sh tools/docs.sh")
  end)

  it("runs LDoc on config.ld without a warning", function()
    assert.equal(0, code, out)
    for line in out:gmatch("[^\n]+") do
      assert.truthy(line == "reading configuration from config.ld" or line:find("^output written to ")
        or line == "docs: build/docs/index.html", "unexpected ldoc output: " .. line .. "\n" .. out)
    end
  end)

  it("is what `make docs` runs, after make deps", function()
    local dry, dry_code = capture("make -n docs")
    assert.equal(0, dry_code, dry)
    assert.truthy(dry:find("tools/deps.sh", 1, true), dry)
    assert.truthy(dry:find("tools/docs.sh", 1, true), dry)
    assert.truthy(dry:find("tools/deps.sh", 1, true) < dry:find("tools/docs.sh", 1, true), dry)
  end)

  it("writes an index that links a page for each public module", function()
    local index = read("build/docs/index.html")
    assert.truthy(index, "no build/docs/index.html\n" .. out)
    for module in pairs(PAGES) do
      assert.truthy(index:find('href="modules/' .. module .. '.html"', 1, true), module .. " not in the index")
    end
    local listed, count = {}, 0
    for module in index:gmatch('href="modules/([^"]+)%.html"') do
      if not listed[module] then listed[module], count = true, count + 1 end
    end
    assert.equal(4, count, "the index lists only the four public modules")
  end)

  for module, names in pairs(PAGES) do
    it("documents " .. module .. "'s public functions", function()
      local html = read("build/docs/modules/" .. module .. ".html")
      assert.truthy(html, "no page for " .. module .. "\n" .. out)
      local documented = anchors(html)
      for _, name in ipairs(names) do
        assert.truthy(documented[name], module .. ": " .. name .. " is not documented")
      end
      for _, name in ipairs(HIDDEN[module] or {}) do
        assert.falsy(documented[name], module .. ": internal " .. name .. " is documented")
      end
    end)
  end

  it("says what fails and what raises", function()
    local tokens = read("build/docs/modules/genesys.tokens.html")
    assert.truthy(tokens:find("Raises:", 1, true))
    assert.truthy(tokens:find("genesys.tokens.errors.html#Error", 1, true), "the error type is linked")
    local errors = read("build/docs/modules/genesys.tokens.errors.html")
    for _, field in ipairs { "kind", "status", "code", "message", "correlation_id", "retry_after" } do
      assert.truthy(errors:find('<li><span class="parameter">' .. field .. "</span>", 1, true),
        "Error field " .. field .. " is not documented")
    end
  end)

  it("fails on an LDoc warning, which LDoc itself exits 0 after", function()
    local dir = capture("mktemp -d"):match("%S+")
    finally(function() os.execute("rm -rf " .. q(dir)) end)
    local f = assert(io.open(dir .. "/config.ld", "w"))
    f:write('project = "broken"\nfile = { "broken.lua" }\ndir = "build/docs"\nformat = "backtick"\n')
    f:close()
    f = assert(io.open(dir .. "/broken.lua", "w"))
    f:write("--- A module.\n-- @module broken\nlocal M = {}\n\n"
      .. "--- A function whose @param names no argument.\n-- @param nme the name\nfunction M.greet(name) return name end\n\n"
      .. "return M\n")
    f:close()

    -- LDoc alone: the warning, and exit 0.
    local plain, plain_code = capture("cd " .. q(dir) .. " && ldoc .")
    assert.truthy(plain:find("param and formal argument name mismatch", 1, true), plain)
    assert.equal(0, plain_code, plain)

    local broken, broken_code = capture("sh tools/docs.sh " .. q(dir))
    assert.are_not.equal(0, broken_code, broken)
    assert.truthy(broken:find("broken.lua:%d+: M.greet: param and formal argument name mismatch"), broken)
    assert.truthy(broken:find("docs: ldoc reported a problem", 1, true), broken)
  end)
end)
