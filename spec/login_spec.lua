-- Client-credentials login against the fake's /oauth/token: the grant as
-- sent, caching, renewal before expiry and after a 401, failures.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

local function b64(s)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(c)
    local bits, b = "", c:byte()
    for i = 8, 1, -1 do bits = bits .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return bits
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(bits)
    if #bits < 6 then return "" end
    local n = 0
    for i = 1, 6 do n = n + (bits:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(n + 1, n + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

describe("client-credentials login", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function client(id, secret, extra)
    local opts = { base_url = srv.http_url, client_id = id, client_secret = secret, timeout = 5 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  local function entries(path)
    local out = {}
    for _, e in ipairs(fake.log()) do
      if e.path == path then out[#out + 1] = e end
    end
    return out
  end

  it("posts grant_type=client_credentials with HTTP Basic, then calls with the token obtained", function()
    local c = client("cc-admin-id", "cc-admin-secret")
    local info = assert(c:me())
    assert.equal("Acme Admin Tool", info.OAuthClient.name)
    local log = fake.log()
    assert.equal(2, #log)
    assert.equal("POST", log[1].method)
    assert.equal("/oauth/token", log[1].request_uri)
    assert.equal("Basic " .. b64("cc-admin-id:cc-admin-secret"), log[1].headers.authorization)
    assert.equal("application/x-www-form-urlencoded", log[1].headers["content-type"])
    assert.equal("grant_type=client_credentials", log[1].body)
    local issued = fake.issued_tokens("cc-admin-id")
    assert.equal(1, #issued)
    assert.equal("Bearer " .. issued[1].token, log[2].headers.authorization)
  end)

  it("sends a secret with reserved characters exactly, inside Basic only", function()
    assert(client("cc-odd-id", "p@ss:w/rd+=?&%20"):me())
    local login = entries("/oauth/token")[1]
    assert.equal("Basic " .. b64("cc-odd-id:p@ss:w/rd+=?&%20"), login.headers.authorization)
    assert.not_matches("p@ss", login.body)
  end)

  it("caches the token across calls and methods", function()
    local c = client("cc-admin-id", "cc-admin-secret")
    assert(c:me())
    assert.is_true(c:verify())
    assert(c:idle_timeout())
    assert.equal(1, #entries("/oauth/token"))
  end)

  it("renews the token shortly before it expires", function()
    local c = client("cc-short-id", "cc-short-secret") -- expires_in = 2
    assert(c:me())
    assert(c:me())
    assert.equal(1, #entries("/oauth/token"))
    require("genesys.tokens.core").sleep(2)
    assert(c:me())
    local issued = fake.issued_tokens("cc-short-id")
    assert.equal(2, #issued)
    local log = fake.log()
    assert.equal("Bearer " .. issued[2].token, log[#log].headers.authorization)
  end)

  it("logs in again once after a 401 on a token it obtained itself", function()
    local c = client("cc-admin-id", "cc-admin-secret")
    assert(c:me())
    fake.revoke_token(fake.issued_tokens("cc-admin-id")[1].token)
    local info = assert(c:me())
    assert.equal("Acme Corp", info.organization.name)
    assert.equal(2, #entries("/oauth/token"))
    local statuses = {}
    for _, e in ipairs(entries("/api/v2/tokens/me")) do statuses[#statuses + 1] = e.status end
    assert.same({ 200, 401, 200 }, statuses)
  end)

  it("does not loop when the fresh token is refused as well", function()
    fake.add_oauth_client { client_id = "cc-dead-id", client_secret = "cc-dead-secret", expires_in = 0 }
    local c = client("cc-dead-id", "cc-dead-secret")
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal(401, err.status)
    assert.equal(2, #entries("/oauth/token"))
    assert.equal(2, #entries("/api/v2/tokens/me"))
  end)

  it("does not log in again for a per-call token that is refused", function()
    local c = client("cc-admin-id", "cc-admin-secret")
    local _, err = c:me { access_token = "tok-nobody" }
    assert.equal(401, err.status)
    assert.equal(0, #entries("/oauth/token"))
  end)

  it("a wrong secret is an auth error with the OAuth error, never the secret", function()
    local c = client("cc-admin-id", "not-the-secret")
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.equal("invalid_client", err.code)
    assert.matches("^login failed: ", err.message)
    assert.is_string(err.correlation_id)
    assert.not_matches("not%-the%-secret", tostring(err))
    assert.equal(0, #entries("/api/v2/tokens/me"))
    local again = select(2, c:me())
    assert.equal("invalid_client", again.code, "a failed login is not cached as a success")
  end)

  it("an unknown client is an auth error too", function()
    local _, err = client("cc-nobody", "x-secret"):me()
    assert.equal("auth", err.kind)
    assert.equal("invalid_client", err.code)
  end)

  it("retries a login that meets a 503 or a 429", function()
    fake.fault { kind = "status", status = 503, path = "/oauth/token" }
    fake.fault { kind = "429", retry_after = 0, path = "/oauth/token" }
    local c = client("cc-admin-id", "cc-admin-secret")
    c._sleep = function() end
    assert(c:me())
    assert.equal(3, #entries("/oauth/token"))
  end)

  it("an unreachable login host is a network error saying the login failed", function()
    local c = client("cc-admin-id", "cc-admin-secret", { login_url = "http://127.0.0.1:1", retry = false })
    local _, err = c:me()
    assert.equal("network", err.kind)
    assert.matches("^login failed: ", err.message)
  end)

  it("uses login_url when given", function()
    local c = client("cc-admin-id", "cc-admin-secret", { login_url = srv.http_url .. "/gw/login" })
    assert(c:me())
    assert.equal("/gw/login/oauth/token", fake.log()[1].request_uri)
  end)

  it("the default client logs in from GENESYSCLOUD_OAUTHCLIENT_ID and _SECRET", function()
    local env = { GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_OAUTHCLIENT_ID = "cc-admin-id",
      GENESYSCLOUD_OAUTHCLIENT_SECRET = "cc-admin-secret" }
    local c = tokens.new(require("genesys.tokens.options").with_environment({}, function(k) return env[k] end))
    assert(c:me())
    assert.equal(1, #entries("/oauth/token"))
  end)
end)
