-- The gate's parts that need no nginx: its settings, its verdicts (policy,
-- lifetimes, dates) and its metrics text. spec/gate_spec.lua runs the
-- whole gate in nginx.
local settings = require "genesys.tokens.gate.settings"
local verdict = require "genesys.tokens.gate.verdict"
local metrics = require "genesys.tokens.gate.metrics"

local ACME = "2f1e8c2a-5b7d-4c1e-9a3f-0d6b7e8f9a01"
local BASE = { orgs = { ACME }, base_url = "http://127.0.0.1:9" }

local function with(extra)
  local t = {}
  for k, v in pairs(BASE) do t[k] = v end
  for k, v in pairs(extra) do
    if v == false and k == "base_url" then v = nil end -- leave it out
    t[k] = v
  end
  return t
end

describe("gate settings", function()
  it("fill in the defaults", function()
    local s = settings.parse(BASE)
    assert.equal(60, s.ttl)
    assert.equal(10, s.negative_ttl)
    assert.equal(0, s.stale_ttl)
    assert.equal(64, s.max_pending)
    assert.equal(30, s.max_retry_after)
    assert.equal("genesys_gate", s.dict)
    assert.equal("genesys_gate", s.metrics_dict)
    assert.equal("X-Genesys-Org-Id", s.headers.org)
    assert.equal("X-Genesys-OAuth-Client-Id", s.headers.oauth_client)
    assert.is_false(s.headers.home_org)
    assert.same({ [ACME] = true }, s.org_set)
    assert.is_nil(s.client_set)
    -- two attempts of 5 s, a 1 s retry budget, a second to spare
    assert.equal(12, s.flight_bound)
  end)

  it("raise without orgs, naming the setting", function()
    assert.has_error(function() settings.parse { ttl = 60 } end,
      "genesys.tokens.gate: setting 'orgs' is required: the list of organization ids whose tokens pass, "
      .. 'or "*" for every organization')
  end)

  it("take orgs = \"*\" and leave the org check off", function()
    assert.is_nil(settings.parse(with { orgs = "*" }).org_set)
  end)

  for _, case in ipairs {
    { { orgs = "acme" }, "setting 'orgs' must be a list of organization ids or \"*\", got string \"acme\"" },
    { { orgs = true }, "setting 'orgs' must be a list of organization ids or \"*\", got boolean" },
    { { orgs = {} }, "'orgs' must be a non-empty list of strings" },
    { { orgs = { ACME, [5] = "x" } }, "'orgs' must be a list (a sequence)" },
    { { orgs = { "" } }, "the entries of 'orgs' must be non-empty" },
    { { orgs = { "a b" } }, "the entries of 'orgs' must be non-empty" },
    { { oauth_clients = "web" }, "setting 'oauth_clients' must be a table, got string" },
    { { oauth_clients = {} }, "'oauth_clients' must be a non-empty list" },
    { { scopes = { "users\"" } }, "the entries of 'scopes'" },
    { { scopes = { 7 } }, "the entries of 'scopes'" },
    { { tll = 60 }, "unknown setting 'tll'" },
    { { [1] = "x" }, "unknown setting '1'" },
    { { ttl = "60" }, "setting 'ttl' must be a number, got string" },
    { { ttl = 0 }, "setting 'ttl' must be a number from 0.001" },
    { { ttl = 0 / 0 }, "setting 'ttl' must be a number" },
    { { ttl = math.huge }, "setting 'ttl' must be a number" },
    { { negative_ttl = -1 }, "setting 'negative_ttl' must be a number from 0" },
    { { max_pending = 2.5 }, "setting 'max_pending' must be a whole number" },
    { { max_pending = 0 }, "setting 'max_pending' must be a whole number" },
    { { max_retry_after = 0 }, "setting 'max_retry_after' must be a number from 1" },
    { { hide_credentials = "yes" }, "setting 'hide_credentials' must be a boolean" },
    { { allow_preflight = 1 }, "setting 'allow_preflight' must be a boolean" },
    { { realm = 'a"b' }, "setting 'realm' must be printable ASCII" },
    { { realm = "a\nb" }, "setting 'realm' must be printable ASCII" },
    { { dict = "" }, "setting 'dict' must be non-empty" },
    { { headers = { user = "X-User" } }, "unknown header 'user' in 'headers'" },
    { { headers = { org = "X Org" } }, "headers.org must be a header name" },
    { { headers = { org = "X-Org\r\nEvil: 1" } }, "headers.org must be a header name" },
    { { headers = { org = 5 } }, "headers.org must be a header name" },
    { { orgs = { ACME, "*" } }, 'setting \'orgs\' lists "*": for every organization, write orgs = "*"' },
    { { headers = { org = "Authorization" } }, "headers.org may not be Authorization" },
    { { headers = { scopes = "content-length" } }, "headers.scopes may not be content-length" },
    { { headers = { home_org = "Host" } }, "headers.home_org may not be Host" },
    { { headers = { org = "-" } }, "headers.org must be a header name" },
    { { headers = { org = "X-Id", oauth_client = "x-id" } }, "have one name: " },
    { { headers = { org = "X-Genesys-Scopes", scopes = true } }, "have one name: " },
    { { retry = true }, "setting 'retry' must be a table" },
    { { retry = { tries = 2 } }, "unknown retry option 'tries'" },
    { { region = "mars-north-9", base_url = false }, "region" },
    { { base_url = "ftp://x" }, "base_url" },
    { { timeout = -1 }, "setting 'timeout' must be a number" },
  } do
    it("raise on " .. next(case[1]) .. " = " .. tostring(select(2, next(case[1]))), function()
      local ok, err = pcall(settings.parse, with(case[1]))
      assert.is_false(ok)
      assert.matches("^genesys%.tokens%.gate: ", err)
      assert.truthy(err:find(case[2], 1, true), err)
    end)
  end

  it("raise at the caller of setup", function()
    local function setup(opts)
      local s = settings.parse(opts, 2) -- not a tail call: setup's frame stays
      return s
    end
    local ok, err = pcall(function() setup { ttl = 1 } end)
    assert.is_false(ok)
    assert.matches("gate_spec%.lua:%d+: genesys%.tokens%.gate", err)
  end)

  it("read GENESYSCLOUD_BASE_URL when neither region nor base_url is set", function()
    local s = settings.parse { orgs = "*" }
    local env, region = os.getenv("GENESYSCLOUD_BASE_URL"), os.getenv("GENESYSCLOUD_REGION")
    if env and env ~= "" then
      assert.equal(env, s.base_url)
    elseif not region or region == "" then
      assert.equal("https://api.mypurecloud.com", s.base_url_shown) -- us-east-1
    end
    -- a setting wins over the environment
    assert.equal("http://127.0.0.1:9", settings.parse({ orgs = "*", base_url = "http://127.0.0.1:9" }).base_url_shown)
  end)

  it("name headers true by their default names, and false leaves one out", function()
    local s = settings.parse(with { headers = { home_org = true, scopes = "X-Scopes", oauth_client = false } })
    assert.equal("X-Genesys-Home-Org-Id", s.headers.home_org)
    assert.equal("X-Scopes", s.headers.scopes)
    assert.is_false(s.headers.oauth_client)
    assert.equal("X-Genesys-Org-Id", s.headers.org)
  end)
end)

describe("gate verdicts", function()
  local s = settings.parse(with { ttl = 60, stale_ttl = 30, oauth_clients = { "web" }, scopes = { "a", "b" } })
  local NOW = 1800000000
  local function info(extra)
    local t = { organization = { id = ACME }, homeOrganization = { id = "home" }, OAuthClient = { id = "web" },
      authorizedScope = { "a", "b", "c" } }
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end

  it("parse Genesys' ISO 8601 dates", function()
    assert.equal(1925035200, verdict.parse_date("2031-01-01T12:00:00.000Z"))
    assert.equal(1925035200, verdict.parse_date("2031-01-01T12:00:00Z"))
    assert.equal(1925035200.5, verdict.parse_date("2031-01-01T12:00:00.5Z"))
    assert.equal(1925035200, verdict.parse_date("2031-01-01T13:00:00+01:00"))
    assert.equal(1925035200, verdict.parse_date("2031-01-01T07:30:00-0430"))
    assert.equal(951782400, verdict.parse_date("2000-02-29T00:00:00Z"))
    assert.equal(0, verdict.parse_date("1970-01-01T00:00:00Z"))
    for _, bad in ipairs { "2031-01-01", "2031-13-01T00:00:00Z", "2031-01-01T24:00:00Z", "2031-01-01T12:00:00",
      "2031-01-01T12:00:00.Z", "2031-01-01T12:00:00+1", "x2031-01-01T12:00:00Z", "", 5, false } do
      assert.is_nil(verdict.parse_date(bad), tostring(bad))
    end
  end)

  it("allow, keeping the identity, fresh for ttl and stale for stale_ttl more", function()
    local text, keep = verdict.judge(info(), s, NOW)
    local kind, fresh, stale = verdict.read(text)
    assert.equal(verdict.ALLOWED, kind)
    assert.equal(NOW + 60, fresh)
    assert.equal(NOW + 90, stale)
    assert.equal(90, keep)
    assert.same({ ACME, "web", "home", "a b c" }, { verdict.identity(text) })
  end)

  it("never outlive dateTokenIdles, fresh or stale", function()
    local text, keep = verdict.judge(info { dateTokenIdles = "2027-01-15T08:00:20.000Z" }, s, NOW)
    local _, fresh, stale = verdict.read(text)
    assert.equal(NOW + 20, fresh)
    assert.equal(NOW + 20, stale)
    assert.equal(20, keep)
    text, keep = verdict.judge(info { dateTokenIdles = "2027-01-15T07:00:00.000Z" }, s, NOW) -- already past
    assert.equal(verdict.ALLOWED, verdict.read(text))
    assert.is_nil(keep) -- answered, not cached
    -- dates no token has: the fields stay where they are
    for _, date in ipairs { "1000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z" } do
      text = verdict.judge(info { dateTokenIdles = date }, s, NOW)
      assert.same({ ACME, "web", "home", "a b c" }, { verdict.identity(text) }, date)
    end
    assert.equal(90, select(2, verdict.judge(info { dateTokenIdles = "not a date" }, s, NOW)))
  end)

  it("forbid another organization or OAuth client, and a token without a client when clients are listed", function()
    assert.equal(verdict.FORBIDDEN, verdict.read((verdict.judge(info { organization = { id = "other" } }, s, NOW))))
    assert.equal(verdict.FORBIDDEN, verdict.read((verdict.judge(info { OAuthClient = { id = "admin" } }, s, NOW))))
    assert.equal(verdict.FORBIDDEN, verdict.read((verdict.judge(info { OAuthClient = false }, s, NOW))))
  end)

  it("say insufficient_scope when a required scope is missing, matching scopes exactly", function()
    assert.equal(verdict.INSUFFICIENT_SCOPE, verdict.read((verdict.judge(info { authorizedScope = { "a" } }, s, NOW))))
    assert.equal(verdict.INSUFFICIENT_SCOPE,
      verdict.read((verdict.judge(info { authorizedScope = { "a", "b:readonly" } }, s, NOW))))
    assert.equal(verdict.INSUFFICIENT_SCOPE, verdict.read((verdict.judge(info { authorizedScope = "a b" }, s, NOW))))
  end)

  it("refuse to judge a TokenInfo without a usable organization id", function()
    for _, bad in ipairs { {}, { organization = {} }, { organization = { id = "" } }, { organization = { id = 5 } },
      { organization = { id = "a\tb" } }, { organization = "acme" } } do
      local text, problem = verdict.judge(bad, s, NOW)
      assert.is_nil(text)
      assert.equal("TokenInfo without an organization id", problem)
    end
    assert.same({ nil, "TokenInfo is not an object" }, { verdict.judge("x", s, NOW) })
  end)

  it("leave out of the identity what could not travel in a header", function()
    local text = verdict.judge(info { OAuthClient = { id = "we\r\nb" }, homeOrganization = { id = ("h"):rep(2000) },
      authorizedScope = { "a", "b", "bad\nscope", "two words", 7 } }, settings.parse(BASE), NOW)
    assert.same({ ACME, "", "", "a b" }, { verdict.identity(text) })
  end)

  it("remember a refusal for negative_ttl, and not at all with 0", function()
    local text, keep = verdict.refused(s, NOW)
    local kind, fresh, stale = verdict.read(text)
    assert.equal(verdict.REFUSED, kind)
    assert.equal(NOW + 10, fresh)
    assert.equal(fresh, stale) -- a refusal is never served stale
    assert.equal(10, keep)
    assert.is_nil(select(2, verdict.refused(settings.parse(with { negative_ttl = 0 }), NOW)))
  end)
end)

describe("gate metrics", function()
  local function dict()
    local data = {}
    return { data = data,
      get = function(_, k) return data[k] end,
      incr = function(_, k, by, init) data[k] = (data[k] or init) + by return data[k] end }
  end

  it("render every family with zeros before anything happened", function()
    local text = metrics.new(dict()):render()
    assert.matches('genesys_gate_requests_total{outcome="allowed"} 0\n', text, 1, true)
    assert.matches('genesys_gate_cache_total{result="wait"} 0\n', text, 1, true)
    assert.matches('genesys_gate_genesys_calls_total{status="error"} 0\n', text, 1, true)
    assert.matches('genesys_gate_genesys_call_seconds_bucket{le="+Inf"} 0\n', text, 1, true)
    assert.matches("# TYPE genesys_gate_genesys_call_seconds histogram\n", text, 1, true)
  end)

  it("count calls by status class and into cumulative buckets", function()
    local m = metrics.new(dict())
    m:call(200, 0.003)
    m:call(401, 0.2)
    m:call(503, 7)
    m:call(nil, 30)
    m:call(99, 0.001) -- no HTTP status class: an error
    local text = m:render()
    assert.matches('status="2xx"} 1\n', text, 1, true)
    assert.matches('status="4xx"} 1\n', text, 1, true)
    assert.matches('status="5xx"} 1\n', text, 1, true)
    assert.matches('status="error"} 2\n', text, 1, true)
    assert.matches('_bucket{le="0.005"} 2\n', text, 1, true)
    assert.matches('_bucket{le="0.25"} 3\n', text, 1, true)
    assert.matches('_bucket{le="10"} 4\n', text, 1, true)
    assert.matches('_bucket{le="+Inf"} 5\n', text, 1, true)
    assert.matches("_count 5\n", text, 1, true)
    assert.matches("_sum 37.204", text, 1, true)
  end)
end)

describe("the gate outside nginx", function()
  local gate = require "genesys.tokens.gate"

  it("refuses setup outside init_by_lua, and every call before setup", function()
    assert.has_error(function() gate.setup { orgs = "*" } end,
      "genesys.tokens.gate: call setup from init_by_lua, so that every worker shares its cache key")
    assert.has_error(function() gate.check() end, "genesys.tokens.gate: call gate.setup from init_by_lua first")
    assert.has_error(function() gate.metrics() end, "genesys.tokens.gate: call gate.setup from init_by_lua first")
    assert.has_error(function() gate.client() end, "genesys.tokens.gate: call gate.setup from init_by_lua first")
    assert.has_error(function() gate.forget("tok") end, "genesys.tokens.gate: call gate.setup from init_by_lua first")
    for _, bad in ipairs { 1, false, {} } do
      assert.has_error(function() gate.forget(bad) end, "genesys.tokens.gate: forget takes the token (a string)")
    end
    assert.has_error(function() gate.forget() end, "genesys.tokens.gate: forget takes the token (a string)")
  end)
end)
