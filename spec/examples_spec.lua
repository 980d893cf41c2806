-- The examples and the environment-driven default client, run as a user
-- would: separate processes against the fake server.
local fake = require "spec.support.fake"

local LUA = os.getenv("LUA") or "lua5.4"

-- Runs a shell command with `env` set; returns its output and exit code.
local function run(env, command)
  local parts = {}
  for name, value in pairs(env) do
    parts[#parts + 1] = ("%s='%s'"):format(name, value)
  end
  parts[#parts + 1] = ("LUA_PATH='%s' LUA_CPATH='%s'"):format(package.path, package.cpath)
  local p = assert(io.popen(table.concat(parts, " ") .. " " .. command .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), code
end

describe("examples and the environment", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  it("whoami.lua prints the organization, OAuth client and scopes", function()
    local out, code = run({ GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_ACCESS_TOKEN = "tok-cloned" },
      LUA .. " examples/whoami.lua")
    assert.equal(0, code, out)
    assert.matches("Organization:%s+Acme Corp %(" .. fake.seed.orgs.acme.id:gsub("%-", "%%-"), out)
    assert.matches("Home organization:%s+Trustor Inc", out)
    assert.matches("Cloned from user:%s+" .. fake.seed.native_user_id:gsub("%-", "%%-"), out)
    assert.matches("OAuth client:%s+Acme Web App", out)
    assert.matches("Scopes:%s+users:readonly", out)
    assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", fake.log()[1].request_uri)
  end)

  it("whoami.lua fails with the error on one line and exit code 1 for a bad token", function()
    local out, code = run({ GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_ACCESS_TOKEN = "tok-wrong" },
      LUA .. " examples/whoami.lua")
    assert.equal(1, code)
    assert.matches("^whoami: genesys%.tokens: http 401 bad%.credentials", out)
    assert.not_matches("tok%-wrong", out)
  end)

  it("revoke_user.lua revokes a user and shows the user's token refused", function()
    local alice = fake.seed.users.alice.id
    local out, code = run({ GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_ACCESS_TOKEN = "tok-admin" },
      LUA .. " examples/revoke_user.lua " .. alice .. " tok-alice")
    assert.equal(0, code, out)
    assert.matches("Before:%s+the user's token works", out)
    assert.matches("Revoked every token of user " .. alice:gsub("%-", "%%-"), out)
    assert.matches("After:%s+the user's token is refused: genesys%.tokens: http 401", out)
  end)

  it("revoke_user.lua without an id prints its usage and exits 2", function()
    local out, code = run({}, LUA .. " examples/revoke_user.lua")
    assert.equal(2, code)
    assert.matches("usage:", out)
  end)

  it("the default client reads GENESYSCLOUD_BASE_URL and GENESYSCLOUD_ACCESS_TOKEN", function()
    local out, code = run({ GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_ACCESS_TOKEN = "tok-admin",
      GENESYSCLOUD_REGION = "eu-west-1" },
      LUA .. [[ -e 'local t = require "genesys.tokens"; print(assert(t.me()).OAuthClient.name)']])
    assert.equal(0, code, out)
    assert.equal("Acme Admin Tool\n", out)
  end)

  it("the default client without any credentials returns an auth error naming the variable", function()
    local out, code = run({ GENESYSCLOUD_BASE_URL = srv.http_url },
      LUA .. [[ -e 'local t = require "genesys.tokens"; local i, e = t.me(); print(i, e.kind, e.message)']])
    assert.equal(0, code, out)
    assert.matches("^nil\tauth\tno credentials: set GENESYSCLOUD_ACCESS_TOKEN "
      .. "%(or GENESYSCLOUD_OAUTHCLIENT_ID and GENESYSCLOUD_OAUTHCLIENT_SECRET%)", out)
    assert.equal(0, #fake.log())
  end)

  it("a bad GENESYSCLOUD_REGION raises, naming the valid regions", function()
    local out, code = run({ GENESYSCLOUD_REGION = "moon-1", GENESYSCLOUD_ACCESS_TOKEN = "tok-admin" },
      LUA .. [[ -e 'require("genesys.tokens").me()']])
    assert.not_equal(0, code)
    assert.matches("unknown region 'moon%-1'", out)
    assert.matches("eu%-west%-1", out)
  end)
end)
