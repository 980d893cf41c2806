local errors = require "genesys.tokens.errors"

describe("errors", function()
  it("prints as one line with kind, status, code, message, retry and correlation id", function()
    local e = errors.new { kind = "http", status = 429, code = "too.many.requests.retry.after",
      message = "Rate limit\r\nexceeded", retry_after = 3, correlation_id = "c-1" }
    local s = tostring(e)
    assert.equal("genesys.tokens: http 429 too.many.requests.retry.after: Rate limit exceeded"
      .. " (retry after 3 s) [correlation id c-1]", s)
    assert.not_matches("[\r\n]", s)
  end)

  it("concatenates on either side", function()
    local e = errors.new { kind = "timeout", message = "slow" }
    assert.equal("x: genesys.tokens: timeout: slow", "x: " .. e)
    assert.equal("genesys.tokens: timeout: slow!", e .. "!")
  end)

  it("is recognised by errors.is", function()
    assert.is_true(errors.is(errors.new { kind = "network" }))
    assert.is_false(errors.is({ kind = "network" }))
    assert.is_false(errors.is("network"))
  end)

  it("scrubs every secret from the message", function()
    local e = errors.new({ kind = "http", message = "token tok-abc and tok-abc, secret s3" },
      { "tok-abc", "s3", "" })
    assert.equal("token [REDACTED] and [REDACTED], secret [REDACTED]", e.message)
    assert.not_matches("tok%-abc", tostring(e))
  end)

  it("replaces whole secrets only: a short one inside a word is left alone, a long one goes anywhere", function()
    -- A 1-byte test token must not mangle "than" (it gave "more [REDACTED]han 64").
    assert.equal("more than 64 (token [REDACTED])", errors.redact("more than 64 (token t)", { "t" }))
    assert.equal("x.[REDACTED] and [REDACTED]", errors.redact("x.tok-admin and tok-admin", { "tok-admin" }))
    assert.equal("tok-adminx", errors.redact("tok-adminx", { "tok-admin" })) -- glued: another word
    local long = "AbCdEfGh0123456789"
    assert.equal("x[REDACTED]y", errors.redact("x" .. long .. "y", { long }))
    -- Secrets inside one another, the longer first; the JSON-escaped form too.
    assert.equal("[REDACTED] [REDACTED]", errors.redact("abc/def-ghi-jkl-mno abc\\/def-ghi-jkl-mno",
      { "abc/def", "abc/def-ghi-jkl-mno" }))
    assert.equal("no secret here", errors.redact("no secret here", { "tok-admin", "" }))
  end)

  it("finds a short secret after a JSON escape, and a secret in each form JSON text gives it", function()
    -- A logged body: the n of \n and the digits of \u000a are not a word the secret is part of.
    assert.equal('{"m":"x\\n[REDACTED]"}', errors.redact('{"m":"x\\ntok-admin"}', { "tok-admin" }))
    assert.equal('{"m":"x\\u000a[REDACTED]"}', errors.redact('{"m":"x\\u000atok-admin"}', { "tok-admin" }))
    local odd = 'abcdefghij"klmnopq/rstu\\xyz'
    for _, form in ipairs {
      odd, 'abcdefghij\\"klmnopq/rstu\\\\xyz', 'abcdefghij\\"klmnopq\\/rstu\\\\xyz',
    } do
      assert.equal("<[REDACTED]>", errors.redact("<" .. form .. ">", { odd }), form)
    end
  end)

  describe("from_response", function()
    it("reads the platform ErrorBody", function()
      local e = errors.from_response({ status = 404, correlation_id = "hdr", body =
        '{"message":"Not here","code":"not.found","status":404,"contextId":"ctx","details":[],"errors":[]}' })
      assert.equal("http", e.kind)
      assert.equal(404, e.status)
      assert.equal("not.found", e.code)
      assert.equal("Not here", e.message)
      assert.equal("ctx", e.correlation_id)
    end)

    it("falls back to the correlation header and keeps Retry-After", function()
      local e = errors.from_response({ status = 429, correlation_id = "hdr", retry_after = 7,
        body = '{"code":"too.many.requests.retry.after","message":"m"}' })
      assert.equal("hdr", e.correlation_id)
      assert.equal(7, e.retry_after)
    end)

    it("says what it got when the body is no ErrorBody", function()
      assert.equal("response body is not a platform error",
        errors.from_response({ status = 502, body = "<html>bad gateway</html>" }).message)
      assert.equal("empty response body", errors.from_response({ status = 500, body = "" }).message)
      assert.equal("redirect not followed", errors.from_response({ status = 302, body = "" }).message)
      local e = errors.from_response({ status = 500, body = '{"code":5,"message":{}}' })
      assert.is_nil(e.code)
      assert.equal("response body is not a platform error", e.message)
    end)

    it("scrubs the token even if the server echoes it", function()
      local e = errors.from_response({ status = 401, body = '{"message":"bad token tok-1"}' }, { "tok-1" })
      assert.not_matches("tok%-1", tostring(e))
    end)
  end)
end)

describe("errors, more", function()
  it("scrubs a secret with a space even when the server splits it over lines", function()
    local e = errors.from_response({ status = 400, body = '{"message":"bad ab\\r\\ncd here"}' }, { "ab cd" })
    assert.not_matches("ab cd", tostring(e))
  end)

  it("an empty message is no message", function()
    assert.equal("response body is not a platform error",
      errors.from_response({ status = 500, body = '{"code":"x","message":""}' }).message)
  end)
end)
