-- What a hostile or failing server does to a call: every fault ends in the
-- documented error kind, no secret in it, and the client still works.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

describe("faults", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  -- Retries off: each fault is seen once (retries_spec covers retrying).
  local function client(extra)
    local opts = { base_url = srv.http_url, access_token = "tok-admin", timeout = 5, retry = false }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  -- Runs `call` on a fresh client with `fault` queued; checks the error's
  -- shape and that the same client then succeeds.
  local function expect_failure(fault, extra, call)
    fake.fault(fault)
    local c = client(extra)
    local value, err = (call or c.me)(c)
    assert.is_nil(value)
    assert.is_table(err)
    assert.not_matches("tok%-admin", tostring(err))
    assert.not_matches("[\r\n]", tostring(err))
    assert(c:me(), "the client works after the fault")
    return err
  end

  it("429: an http error with Retry-After and the platform code", function()
    local err = expect_failure { kind = "429", retry_after = 7 }
    assert.equal("http", err.kind)
    assert.equal(429, err.status)
    assert.equal("too.many.requests.retry.after", err.code)
    assert.equal(7, err.retry_after)
    assert.matches("%(retry after 7 s%)", tostring(err))
  end)

  for _, status in ipairs { 400, 403, 404, 408, 409, 413, 415, 500, 502, 503, 504 } do
    it(status .. ": an http error with the status and the correlation id", function()
      local err = expect_failure { kind = "status", status = status }
      assert.equal("http", err.kind)
      assert.equal(status, err.status)
      assert.is_string(err.code)
      assert.is_string(err.correlation_id)
    end)
  end

  it("the same faults on revoke and revoke_me", function()
    local err = expect_failure({ kind = "status", status = 503 }, nil,
      function(c) return c:revoke(fake.seed.users.bob.id) end)
    assert.equal(503, err.status)
    err = expect_failure({ kind = "429", retry_after = 2 }, nil, function(c) return c:revoke_me() end)
    assert.equal(429, err.status)
    assert.is_falsy(fake.state_token("tok-admin").revoked)
  end)

  it("truncated JSON: a decode error", function()
    local err = expect_failure { kind = "truncated_json" }
    assert.equal("decode", err.kind)
    assert.equal(200, err.status)
    assert.matches("invalid JSON", err.message)
  end)

  it("a body shorter than its Content-Length: a network error", function()
    local err = expect_failure { kind = "short_body" }
    assert.equal("network", err.kind)
    assert.equal("CURLE_PARTIAL_FILE", err.code)
  end)

  it("an HTML error page: an http error that says the body is not the platform's", function()
    local err = expect_failure { kind = "html", status = 502 }
    assert.equal("http", err.kind)
    assert.equal(502, err.status)
    assert.equal("response body is not a platform error", err.message)
  end)

  it("an HTML page with status 200: a decode error", function()
    local err = expect_failure { kind = "html", status = 200 }
    assert.equal("decode", err.kind)
  end)

  it("a body over max_body, with Content-Length: too_large", function()
    local err = expect_failure({ kind = "huge", bytes = 4 * 1024 * 1024, chunked = false },
      { max_body = 64 * 1024 })
    assert.equal("too_large", err.kind)
    assert.matches("max_body %(65536 bytes%)", err.message)
  end)

  it("a Content-Length over max_body is refused from the headers, before any body arrives", function()
    -- The body trickles: waiting for it to pass max_body would time out.
    local err = expect_failure({ kind = "trickle", interval = 0.5, content_length = 10 * 1024 * 1024 },
      { max_body = 64 * 1024, timeout = 2 })
    assert.equal("too_large", err.kind)
  end)

  it("a body over max_body, chunked without Content-Length: too_large", function()
    local err = expect_failure({ kind = "huge", bytes = 8 * 1024 * 1024, chunked = true },
      { max_body = 64 * 1024 })
    assert.equal("too_large", err.kind)
  end)

  it("a body just under max_body is accepted", function()
    local c = client { max_body = 2048 }
    assert(c:me())
  end)

  it("a body that trickles: a timeout within the call's timeout", function()
    local err = expect_failure({ kind = "trickle", interval = 0.2 }, { timeout = 0.6 })
    assert.equal("timeout", err.kind)
    assert.equal("CURLE_OPERATION_TIMEDOUT", err.code)
  end)

  it("a server that answers too late: a timeout", function()
    local err = expect_failure({ kind = "delay", seconds = 2 }, { timeout = 0.3 })
    assert.equal("timeout", err.kind)
  end)

  it("a connection closed without a reply: a network error", function()
    local err = expect_failure { kind = "reset" }
    assert.equal("network", err.kind)
    assert.equal("CURLE_GOT_NOTHING", err.code)
  end)

  it("a redirect is not followed and the token never reaches the other host", function()
    local err = expect_failure { kind = "redirect", status = 302 }
    assert.equal("http", err.kind)
    assert.equal(302, err.status)
    assert.equal("redirect not followed", err.message)
    for _, e in ipairs(fake.log()) do
      assert.not_equal("other", e.server)
    end
  end)

  it("a refused connection: a network error", function()
    local c = tokens.new { base_url = "http://127.0.0.1:1", access_token = "tok-admin", timeout = 2, retry = false }
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal("network", err.kind)
    assert.equal("CURLE_COULDNT_CONNECT", err.code)
  end)

  it("a proxy that refuses the connection: a network error", function()
    local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin",
      timeout = 2, proxy = "http://127.0.0.1:1", retry = false }
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal("network", err.kind)
    assert.equal(0, #fake.log())
  end)

  describe("over https", function()
    it("works with the test CA and verifies the host name", function()
      local c = client { base_url = srv.https_url, ca_file = srv.ca_file }
      local info = assert(c:me())
      assert.equal("Acme Corp", info.organization.name)
      local localhost = client { base_url = "https://localhost:" .. srv.tls_port, ca_file = srv.ca_file }
      assert(localhost:me())
    end)

    it("refuses a certificate from a CA it does not trust: a tls error", function()
      local c = client { base_url = srv.https_url }
      local info, err = c:me()
      assert.is_nil(info)
      assert.equal("tls", err.kind)
      assert.equal("CURLE_PEER_FAILED_VERIFICATION", err.code)
      assert.equal(0, #fake.log(), "no request was sent")
    end)

    it("refuses a missing CA file: a tls error", function()
      local c = client { base_url = srv.https_url, ca_file = srv.dir .. "/no-such-ca.pem" }
      local _, err = c:me()
      assert.equal("tls", err.kind)
    end)
  end)
end)
