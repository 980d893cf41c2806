-- Retries against real faults: what is retried, how long it waits, and
-- what is given up on.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

describe("retries", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  -- A client whose sleeps are recorded (and skipped) instead of waited.
  local function client(extra)
    local opts = { base_url = srv.http_url, access_token = "tok-admin", timeout = 5 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local c = tokens.new(opts)
    local slept = {}
    c._sleep = function(seconds) slept[#slept + 1] = seconds end
    return c, slept
  end

  local function statuses()
    local out = {}
    for _, e in ipairs(fake.log()) do out[#out + 1] = e.status end
    return out
  end

  it("retries a 429 after the Retry-After it was given, then succeeds", function()
    fake.fault { kind = "429", retry_after = 2, times = 2 }
    local c, slept = client()
    local info = assert(c:me())
    assert.equal("Acme Corp", info.organization.name)
    assert.same({ 2, 2 }, slept)
    assert.same({ 429, 429, 200 }, statuses())
    assert.equal(3, c:last_response().attempts)
  end)

  it("gives up on a 429 asking for more than the budget, returning it with retry_after", function()
    fake.fault { kind = "429", retry_after = 45 }
    local c, slept = client()
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal(429, err.status)
    assert.equal(45, err.retry_after)
    assert.same({}, slept)
    assert.equal(1, #fake.log())
  end)

  it("stops when the waits would exceed the budget", function()
    fake.fault { kind = "429", retry_after = 4, times = 10 }
    local c, slept = client { retry = { budget = 10, max_attempts = 10 } }
    local _, err = c:me()
    assert.equal(429, err.status)
    assert.same({ 4, 4 }, slept)
    assert.equal(3, #fake.log())
  end)

  for _, status in ipairs { 502, 503, 504 } do
    it("retries " .. status .. " with growing, jittered waits", function()
      fake.fault { kind = "status", status = status, times = 2 }
      local c, slept = client()
      assert(c:me())
      assert.same({ status, status, 200 }, statuses())
      assert.equal(2, #slept)
      assert.is_true(slept[1] >= 0.125 and slept[1] <= 0.25, tostring(slept[1]))
      assert.is_true(slept[2] >= 0.25 and slept[2] <= 0.5, tostring(slept[2]))
    end)
  end

  it("retries a connection closed without a reply", function()
    fake.fault { kind = "reset", times = 2 }
    local c, slept = client()
    assert(c:revoke(fake.seed.users.bob.id))
    assert.equal(2, #slept)
    assert.equal(3, #fake.log())
  end)

  it("gives up after max_attempts and returns the last failure", function()
    fake.fault { kind = "status", status = 503, times = 10 }
    local c, slept = client { retry = { max_attempts = 3 } }
    local _, err = c:me()
    assert.equal(503, err.status)
    assert.equal(2, #slept)
    assert.equal(3, #fake.log())
  end)

  for _, status in ipairs { 400, 401, 403, 404, 409, 500, 501 } do
    it("never retries " .. status, function()
      fake.fault { kind = "status", status = status }
      local c, slept = client()
      local _, err = c:me()
      assert.equal(status, err.status)
      assert.same({}, slept)
      assert.equal(1, #fake.log())
    end)
  end

  it("never retries a timeout", function()
    fake.fault { kind = "delay", seconds = 1 }
    local c, slept = client { timeout = 0.2 }
    local _, err = c:me()
    assert.equal("timeout", err.kind)
    assert.same({}, slept)
  end)

  it("is off with retry = false", function()
    fake.fault { kind = "status", status = 503, times = 2 }
    local c, slept = client { retry = false }
    local _, err = c:me()
    assert.equal(503, err.status)
    assert.same({}, slept)
    assert.equal(1, #fake.log())
  end)

  it("really waits the Retry-After when nobody replaced the sleep", function()
    fake.fault { kind = "429", retry_after = 1, times = 1 }
    local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin" }
    local started = require("genesys.tokens.core").now()
    assert(c:me())
    local log = fake.log()
    assert.equal(2, #log)
    -- A lower bound only: the wait happened; nothing about speed.
    assert.is_true(log[2].time - log[1].time >= 0.9)
    assert.is_true(require("genesys.tokens.core").now() - started >= 0.9)
  end)
end)
