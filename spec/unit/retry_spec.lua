local retry = require "genesys.tokens.retry"

local function raise(message) error(message, 0) end
local function half() return 0.5 end

describe("retry policy", function()
  local p = retry.policy(nil, raise)

  it("is on by default with a bounded budget", function()
    assert.same(retry.DEFAULTS, p)
    assert.is_false(retry.policy(false, raise))
  end)

  it("takes partial tables and refuses bad fields", function()
    assert.equal(2, retry.policy({ max_attempts = 2 }, raise).max_attempts)
    assert.equal(retry.DEFAULTS.budget, retry.policy({ max_attempts = 2 }, raise).budget)
    assert.has_error(function() retry.policy({ tries = 2 }, raise) end, "unknown retry option 'tries'")
    assert.has_error(function() retry.policy({ budget = -1 }, raise) end,
      "retry option 'budget' must be a number from 0 to 86400")
    assert.has_error(function() retry.policy({ budget = 0 / 0 }, raise) end,
      "retry option 'budget' must be a number from 0 to 86400")
    assert.has_error(function() retry.policy({ max_attempts = 1.5 }, raise) end,
      "retry option 'max_attempts' must be a whole number of at least 1")
  end)

  it("honours Retry-After on 429", function()
    assert.equal(7, retry.delay(p, 1, { status = 429, retry_after = 7 }, 0, half))
    assert.equal(0, retry.delay(p, 1, { status = 429, retry_after = 0 }, 0, half))
  end)

  it("gives up when the server asks for more than the budget left", function()
    assert.is_nil(retry.delay(p, 1, { status = 429, retry_after = 31 }, 0, half))
    assert.is_nil(retry.delay(p, 1, { status = 429, retry_after = 10 }, 25, half))
    assert.equal(10, retry.delay(p, 1, { status = 429, retry_after = 10 }, 20, half))
  end)

  it("backs off exponentially, with jitter, on 502, 503, 504 and network failures", function()
    for _, res in ipairs { { status = 502 }, { status = 503 }, { status = 504 }, { kind = "network" } } do
      assert.equal(0.25 * 0.75, retry.delay(p, 1, res, 0, half))
      assert.equal(0.5 * 0.75, retry.delay(p, 2, res, 0, half))
      assert.equal(1 * 0.75, retry.delay(p, 3, res, 0, half))
    end
    assert.equal(0.125, retry.delay(p, 1, { status = 503 }, 0, function() return 0 end))
    assert.equal(0.25, retry.delay(p, 1, { status = 503 }, 0, function() return 1 end))
  end)

  it("caps the backoff at max_delay", function()
    local wide = retry.policy({ max_attempts = 20, max_delay = 2, budget = 1000 }, raise)
    assert.equal(2, retry.delay(wide, 15, { status = 503 }, 0, function() return 1 end))
  end)

  it("stops after max_attempts", function()
    assert.is_nil(retry.delay(p, 4, { status = 503 }, 0, half))
    assert.is_nil(retry.delay(retry.policy({ max_attempts = 1 }, raise), 1, { status = 503 }, 0, half))
  end)

  it("never retries other statuses or failures, nor when off", function()
    for _, res in ipairs {
      { status = 200 }, { status = 204 }, { status = 400 }, { status = 401 }, { status = 403 },
      { status = 404 }, { status = 409 }, { status = 500 }, { status = 501 },
      { kind = "timeout" }, { kind = "tls" }, { kind = "too_large" },
    } do
      assert.is_nil(retry.delay(p, 1, res, 0, half), tostring(res.status or res.kind))
    end
    assert.is_nil(retry.delay(false, 1, { status = 503 }, 0, half))
  end)
end)
