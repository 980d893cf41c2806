-- The token source, with a scripted login instead of a server.
local auth = require "genesys.tokens.auth"

local function login_answering(...)
  local answers, calls = { ... }, {}
  return function(id, secret)
    calls[#calls + 1] = { id, secret }
    return table.remove(answers, 1) or error("no more scripted answers")
  end, calls
end

local function granted(token, expires_in)
  return { status = 200, body = ('{"access_token":"%s","token_type":"bearer","expires_in":%d}'):format(token, expires_in) }
end

-- The clock and the login Source:token takes (called with its two
-- context arguments first, then the credentials).
local function at(t) return function() return t end end
local function give(login) return function(_, _, id, secret) return login(id, secret) end end

describe("token source", function()
  it("returns a fixed access token and never logs in", function()
    local s = auth.new { access_token = "tok-fixed" }
    assert.is_false(s:logs_in())
    assert.equal("tok-fixed", s:token(at(0), give(function() error("no login expected") end)))
    assert.is_false(s:forget("tok-fixed"))
  end)

  it("has nothing when given nothing", function()
    assert.is_nil(auth.new({}):token(at(0), give(function() error("no login") end)))
  end)

  it("logs in with the client credentials and caches the token", function()
    local login, calls = login_answering(granted("tok-1", 3600))
    local s = auth.new { client_id = "id", client_secret = "secret" }
    assert.equal("tok-1", s:token(at(100), give(login)))
    assert.equal("tok-1", s:token(at(100 + 3000), give(login)))
    assert.same({ { "id", "secret" } }, calls)
  end)

  it("renews shortly before expiry: 60 s early for long tokens, a tenth for short ones", function()
    local login, calls = login_answering(granted("tok-1", 3600), granted("tok-2", 10), granted("tok-3", 10))
    local s = auth.new { client_id = "id", client_secret = "secret" }
    assert.equal("tok-1", s:token(at(0), give(login)))
    assert.equal("tok-1", s:token(at(3539), give(login)))
    assert.equal("tok-2", s:token(at(3540), give(login)))
    assert.equal("tok-2", s:token(at(3540 + 8.9), give(login)))
    assert.equal("tok-3", s:token(at(3540 + 9), give(login)))
    assert.equal(3, #calls)
  end)

  it("forgets a refused token it obtained, so the next call logs in again", function()
    local login = login_answering(granted("tok-1", 3600), granted("tok-2", 3600))
    local s = auth.new { client_id = "id", client_secret = "secret" }
    assert.equal("tok-1", s:token(at(0), give(login)))
    assert.is_false(s:forget("tok-other"))
    assert.is_true(s:forget("tok-1"))
    assert.equal("tok-2", s:token(at(1), give(login)))
  end)

  it("still counts the token it replaced among its secrets (answers to requests made with it may come)", function()
    local login = login_answering(granted("tok-first-1", 10), granted("tok-second-2", 10), granted("tok-third-3", 10))
    local s = auth.new { client_id = "id", client_secret = "secret" }
    s:token(at(0), give(login))
    s:token(at(9.5), give(login)) -- renewed as it expires
    local list = table.concat(s:secrets(), " ")
    assert.truthy(list:find("tok-first-1", 1, true) and list:find("tok-second-2", 1, true))
    s:forget("tok-second-2")
    s:token(at(10), give(login))
    list = table.concat(s:secrets(), " ")
    assert.truthy(list:find("tok-second-2", 1, true) and list:find("tok-third-3", 1, true))
  end)

  it("turns an OAuth refusal into an auth error with error and error_description, without the secret", function()
    local login = login_answering({ status = 401, correlation_id = "c-9",
      body = '{"error":"invalid_client","description":"x","error_description":"client secret s3cret is wrong"}' })
    local s = auth.new { client_id = "id", client_secret = "s3cret" }
    local token, err = s:token(at(0), give(login))
    assert.is_nil(token)
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.equal("invalid_client", err.code)
    assert.equal("c-9", err.correlation_id)
    assert.matches("^login failed: client secret %[REDACTED%] is wrong$", err.message)
    assert.not_matches("s3cret", tostring(err))
  end)

  it("keeps the transport's kind when the login never got an answer", function()
    local login = login_answering({ kind = "network", code = "CURLE_COULDNT_CONNECT", message = "refused" })
    local _, err = auth.new({ client_id = "id", client_secret = "cc-secret-1" }):token(at(0), give(login))
    assert.equal("network", err.kind)
    assert.equal("CURLE_COULDNT_CONNECT", err.code)
    assert.equal("login failed: refused", err.message)
  end)

  it("refuses a token response without a usable token", function()
    for _, body in ipairs {
      "not json", "{}", '{"access_token":"a b","expires_in":5}', '{"access_token":"t"}',
      '{"access_token":"","expires_in":5}', '{"access_token":5,"expires_in":5}', "[1]",
    } do
      local source = auth.new { client_id = "id", client_secret = "cc-secret-1" }
      local _, err = source:token(at(0), give(login_answering({ status = 200, body = body })))
      assert.equal("auth", err.kind, body)
      assert.matches("no usable access_token", err.message)
    end
    local _, err = auth.new({ client_id = "id", client_secret = "cc-secret-1" }):token(at(0),
      give(login_answering({ status = 502, body = "<html>" })))
    assert.equal("login failed: HTTP 502", err.message)
  end)

  it("refuses (nil, err, not a raise) a granted token the next call could not send: over 8 KiB, or not visible ASCII",
    function()
      for _, token in ipairs { ("x"):rep(8193), ("y"):rep(100000), "tok\127x", "tok\195\169" } do
        local source = auth.new { client_id = "id", client_secret = "cc-secret-1" }
        local ok, _, err = pcall(source.token, source, at(0), give(login_answering(granted(token, 3600))))
        assert.is_true(ok, "raised")
        assert.equal("auth", err.kind)
        assert.matches("no usable access_token", err.message)
        assert.is_nil(err.message:find(token, 1, true))
        assert.is_nil(source:token(at(1), give(login_answering({ kind = "network", message = "down" }))))
      end
      -- The longest token that can be sent is taken.
      local source = auth.new { client_id = "id", client_secret = "cc-secret-1" }
      assert.equal(("z"):rep(8192), source:token(at(0), give(login_answering(granted(("z"):rep(8192), 3600)))))
    end)

  it("counts the login's Basic credentials among its secrets (a login host may echo them)", function()
    local s = auth.new { client_id = "id", client_secret = "s3cret" }
    local list = s:secrets()
    assert.truthy(table.concat(list, "\n"):find("aWQ6czNjcmV0", 1, true)) -- base64("id:s3cret")
    local _, err = s:token(at(0), give(login_answering({ status = 400,
      body = '{"error":"invalid_request","error_description":"got Authorization: Basic aWQ6czNjcmV0"}' })))
    assert.equal("login failed: got Authorization: Basic [REDACTED]", err.message)
  end)

  it("does not show its secrets when printed or walked", function()
    local s = auth.new { client_id = "id", client_secret = "s3cret" }
    for _, v in pairs(s) do assert.not_equal("s3cret", v) end
  end)
end)
