local options = require "genesys.tokens.options"

-- Calls options.client and returns the error message it raises.
local function refused(opts)
  local ok, err = pcall(options.client, opts)
  assert.is_false(ok, "expected a raise")
  return err
end

describe("client options", function()
  it("defaults to us-east-1 over https with a 16 s timeout", function()
    local s = options.client {}
    assert.equal("https://api.mypurecloud.com", s.base_url)
    assert.equal(16, s.timeout)
    assert.equal(5, s.connect_timeout)
    assert.equal(1024 * 1024, s.max_body)
    assert.is_nil(s.access_token)
  end)

  it("base_url overrides region and loses its trailing slash", function()
    assert.equal("https://gw.example.com/genesys",
      options.client { region = "eu-west-1", base_url = "https://gw.example.com/genesys/" }.base_url)
  end)

  it("refuses unknown options and wrong types", function()
    assert.matches("unknown option 'acess_token'", refused { acess_token = "x" })
    assert.matches("unknown option '1'", refused { "positional" })
    assert.matches("option 'timeout' must be a number, got string", refused { timeout = "5" })
    assert.matches("option 'headers' must be a table", refused { headers = "X: y" })
    assert.matches("option 'allow_http' must be a boolean", refused { allow_http = 1 })
    assert.matches("options must be a table, got string", refused("x"))
  end)

  it("refuses impossible numbers: zero, negative, NaN, huge, fractional bytes", function()
    for _, bad in ipairs { 0, -1, 0 / 0, 1 / 0, 86401 } do
      assert.matches("timeout must be", refused { timeout = bad })
      assert.matches("connect_timeout must be", refused { connect_timeout = bad })
    end
    for _, bad in ipairs { 0, -5, 0 / 0, 1.5, 2 ^ 40 } do
      assert.matches("max_body must be", refused { max_body = bad })
    end
    assert.equal(0.25, options.client { timeout = 0.25 }.timeout)
  end)

  it("refuses bad access tokens: empty, CR/LF, NUL, space, non-ASCII, too long", function()
    assert.matches("access token is empty", refused { access_token = "" })
    for _, bad in ipairs { "a\r\nX-Evil: 1", "a\0b", "a b", "tok\n", "t\195\169", "\127" } do
      assert.matches("not visible ASCII", refused { access_token = bad })
    end
    assert.matches("too long", refused { access_token = string.rep("a", 8193) })
  end)

  it("refuses plain http:// except to loopback or when allowed", function()
    assert.matches("refusing plain http:// to api.example.com",
      refused { base_url = "http://api.example.com" })
    assert.matches("refusing plain http", refused { base_url = "http://127.0.0.1.example.com" })
    assert.matches("refusing plain http", refused { base_url = "http://10.0.0.1:8080" })
    for _, ok in ipairs { "http://127.0.0.1:8080", "http://localhost", "http://[::1]:81/p", "http://127.1.2.3" } do
      assert.equal(ok, options.client { base_url = ok }.base_url)
    end
    assert.equal("http://api.example.com",
      options.client { base_url = "http://api.example.com", allow_http = true }.base_url)
  end)

  it("refuses base URLs that are not plain http(s) URLs", function()
    for bad, pattern in pairs {
      ["ftp://x"] = "scheme 'ftp'", ["file:///etc/passwd"] = "scheme 'file'",
      ["api.mypurecloud.com"] = "not an http%(s%) URL", ["https://x/?q=1"] = "not an http%(s%) URL",
      ["https://x/#f"] = "not an http%(s%) URL", ["https://user:pw@x"] = "credentials",
      ["https://x:port"] = "no valid host", ["https://"] = "no valid host",
      ["https://x/a b"] = "space", ["https://x/\r\n"] = "control",
      [string.rep("a", 3000)] = "too long",
    } do
      assert.matches(pattern, refused { base_url = bad }, nil, bad)
    end
  end)

  it("refuses default headers that could inject or replace what the client sends", function()
    assert.matches("'Authorization' is set by the client", refused { headers = { Authorization = "Bearer x" } })
    assert.matches("'host' is set by the client", refused { headers = { host = "evil" } })
    assert.matches("not a valid header name", refused { headers = { ["X Bad"] = "1" } })
    assert.matches("not a valid header name", refused { headers = { ["X:Bad"] = "1" } })
    assert.matches("not a valid header name", refused { headers = { "positional" } })
    assert.matches("control character", refused { headers = { ["X-A"] = "1\r\nX-Evil: 2" } })
    assert.matches("must be a string", refused { headers = { ["X-A"] = 1 } })
    assert.same({ "X-A: 1", "X-B: two words" },
      options.client { headers = { ["X-B"] = "two words", ["X-A"] = "1" } }.headers)
    -- More than anyone sends: refused, not some of them dropped.
    local many = {}
    for i = 1, 101 do many["X-H" .. i] = "v" end
    assert.matches("headers: at most 100, got 101", refused { headers = many })
    many["X-H101"] = nil
    assert.equal(100, #options.client { headers = many }.headers)
  end)

  it("refuses empty or control-character paths and agents", function()
    assert.matches("'ca_file' is empty", refused { ca_file = "" })
    assert.matches("'proxy' is empty or contains", refused { proxy = "http://p\n" })
    assert.matches("'user_agent' is empty or contains", refused { user_agent = "a\r\nb" })
  end)

  it("raises at the caller's line, not inside the library", function()
    local ok, err = pcall(function() options.client({ bogus = true }, 1) end)
    assert.is_false(ok)
    assert.matches("options_spec.lua:%d+:", err)
  end)
end)

describe("environment defaults", function()
  local function env(vars) return function(name) return vars[name] end end

  it("reads the GENESYSCLOUD_* variables", function()
    local merged = options.with_environment({}, env {
      GENESYSCLOUD_ACCESS_TOKEN = "t", GENESYSCLOUD_REGION = "eu-west-1" })
    assert.same({ access_token = "t", region = "eu-west-1" }, merged)
  end)

  it("an option given wins; a region or base_url given replaces both of the environment's", function()
    local vars = env { GENESYSCLOUD_ACCESS_TOKEN = "t", GENESYSCLOUD_BASE_URL = "https://env",
      GENESYSCLOUD_REGION = "eu-west-1" }
    assert.same({ access_token = "mine", region = "ap-south-1" },
      options.with_environment({ access_token = "mine", region = "ap-south-1" }, vars))
    assert.same({ access_token = "t", base_url = "https://env", region = "eu-west-1" },
      options.with_environment({}, vars))
  end)

  it("ignores empty variables", function()
    assert.same({}, options.with_environment({}, env { GENESYSCLOUD_ACCESS_TOKEN = "" }))
  end)
end)

describe("credentials, hosts, retries and logging options", function()
  it("takes client credentials, refusing half a pair or both kinds at once", function()
    local s = options.client { client_id = "cid", client_secret = "csecret" }
    assert.equal("cid", s.client_id)
    assert.matches("go together", refused { client_id = "cid" })
    assert.matches("go together", refused { client_secret = "x" })
    assert.matches("not both", refused { access_token = "t", client_id = "a", client_secret = "b" })
    assert.matches("client id contains ':'", refused { client_id = "a:b", client_secret = "c" })
    assert.matches("client secret contains a control character", refused { client_id = "a", client_secret = "c\n" })
    assert.matches("client id is empty", refused { client_id = "", client_secret = "c" })
  end)

  it("derives the login host: login.<domain> for a region or its API host, else the base URL's origin", function()
    assert.equal("https://login.mypurecloud.ie", options.client { region = "eu-west-1" }.login_url)
    assert.equal("https://login.usw2.pure.cloud", options.client { base_url = "https://api.usw2.pure.cloud" }.login_url)
    -- Host names in any case, and https's own port written out.
    assert.equal("https://login.mypurecloud.ie", options.client { base_url = "https://API.MyPureCloud.ie" }.login_url)
    assert.equal("https://login.mypurecloud.ie", options.client { base_url = "https://api.mypurecloud.ie:443" }.login_url)
    assert.equal("https://api.mypurecloud.ie:8443", options.client { base_url = "https://api.mypurecloud.ie:8443" }.login_url)
    assert.equal("http://127.0.0.1:8080", options.client { base_url = "http://127.0.0.1:8080/prefix" }.login_url)
    assert.equal("https://sso.example.com/x",
      options.client { region = "eu-west-1", login_url = "https://sso.example.com/x/" }.login_url)
    assert.matches("login_url scheme 'ftp'", refused { login_url = "ftp://x" })
    assert.matches("refusing plain http", refused { login_url = "http://sso.example.com" })
  end)

  it("builds API and login URLs from a gateway, as the official SDKs do", function()
    local s = options.client { gateway = { host = "gw.example.com", port = 8443,
      api_path = "/genesys/api", login_path = "genesys/login" } }
    assert.equal("https://gw.example.com:8443/genesys/api", s.base_url)
    assert.equal("https://gw.example.com:8443/genesys/login", s.login_url)
    local plain = options.client { gateway = { host = "127.0.0.1", protocol = "http" } }
    assert.equal("http://127.0.0.1", plain.base_url)
    assert.equal("http://127.0.0.1", plain.login_url)
    assert.matches("gateway needs a host", refused { gateway = {} })
    assert.matches("unknown gateway option 'path'", refused { gateway = { host = "h", path = "/x" } })
    assert.matches("gateway port must be", refused { gateway = { host = "h", port = 70000 } })
    assert.matches("gateway port must be", refused { gateway = { host = "h", port = 1.5 } })
    assert.matches("gateway scheme 'ftp'", refused { gateway = { host = "h", protocol = "ftp" } })
    assert.matches("refusing plain http", refused { gateway = { host = "gw.example.com", protocol = "http" } })
    assert.matches("not both", refused { gateway = { host = "h" }, region = "eu-west-1" })
  end)

  it("takes retry as a table or false", function()
    assert.is_false(options.client { retry = false }.retry)
    assert.equal(2, options.client { retry = { max_attempts = 2 } }.retry.max_attempts)
    assert.matches("must be a table or false", refused { retry = true })
    assert.matches("must be a table or false", refused { retry = 3 })
    assert.matches("unknown retry option 'tries'", refused { retry = { tries = 1 } })
  end)

  it("checks log_level, logger and no_proxy", function()
    assert.matches("log_level must be one of none, error, debug, trace", refused { log_level = "verbose" })
    assert.matches("option 'logger' must be a function", refused { logger = "stderr" })
    assert.matches("'no_proxy' contains a control character", refused { no_proxy = "a\nb" })
    assert.equal("", options.client { proxy = "http://p:3128" }.no_proxy)
    assert.equal("localhost", options.client { proxy = "http://p:3128", no_proxy = "localhost" }.no_proxy)
    -- Without either option, "*" (no proxy for any host) when libcurl would
    -- find no proxy in the environment (config_spec runs it with some).
    local in_env = false
    for _, name in ipairs { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" } do
      if (os.getenv(name) or "") ~= "" then in_env = true end
    end
    assert.equal(not in_env and "*" or nil, options.client {}.no_proxy)
  end)
end)

describe("environment credentials", function()
  local function env(vars) return function(name) return vars[name] end end

  it("reads the OAuth client variables when there is no access token", function()
    assert.same({ client_id = "i", client_secret = "s" }, options.with_environment({}, env {
      GENESYSCLOUD_OAUTHCLIENT_ID = "i", GENESYSCLOUD_OAUTHCLIENT_SECRET = "s" }))
  end)

  it("prefers the environment's access token to its OAuth client", function()
    assert.same({ access_token = "t" }, options.with_environment({}, env {
      GENESYSCLOUD_ACCESS_TOKEN = "t", GENESYSCLOUD_OAUTHCLIENT_ID = "i", GENESYSCLOUD_OAUTHCLIENT_SECRET = "s" }))
  end)

  it("takes no credentials from the environment when the options give any", function()
    assert.same({ client_id = "mine", client_secret = "x" }, options.with_environment(
      { client_id = "mine", client_secret = "x" }, env { GENESYSCLOUD_ACCESS_TOKEN = "t" }))
    assert.same({ access_token = "mine" }, options.with_environment({ access_token = "mine" },
      env { GENESYSCLOUD_OAUTHCLIENT_ID = "i", GENESYSCLOUD_OAUTHCLIENT_SECRET = "s" }))
  end)
end)
