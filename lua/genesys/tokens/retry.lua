-- When to try a call again, and how long to wait first. Every call this
-- library makes is idempotent (GET, HEAD, DELETE of a token, PUT of the
-- same setting, a client-credentials login), so every one may retry.
local retry = {}

retry.DEFAULTS = {
  max_attempts = 4, -- the first try included
  base_delay = 0.25, -- seconds before the first retry, doubling after
  max_delay = 10, -- the longest single backoff wait
  budget = 30, -- the most seconds one call may spend waiting in all
}

-- Statuses that say "later": the platform's rate limit and the gateway
-- errors the official resiliency guidance calls transient.
local RETRY_STATUS = { [429] = true, [502] = true, [503] = true, [504] = true }

local FIELDS = { max_attempts = true, base_delay = true, max_delay = true, budget = true }

--- The policy from the `retry` option: a table (fields default), `false`
-- (no retries) or nil (the defaults). Raises on a bad value.
function retry.policy(value, fail)
  if value == false then return false end
  local p = {}
  for k, v in pairs(retry.DEFAULTS) do p[k] = v end
  if value == nil then return p end
  for k, v in pairs(value) do
    if not FIELDS[k] then fail(("unknown retry option '%s'"):format(tostring(k))) end
    if type(v) ~= "number" or v ~= v or v < 0 or v > 86400 then
      fail(("retry option '%s' must be a number from 0 to 86400"):format(k))
    end
    p[k] = v
  end
  if p.max_attempts < 1 or p.max_attempts % 1 ~= 0 then
    fail("retry option 'max_attempts' must be a whole number of at least 1")
  end
  return p
end

--- The backoff before retry number `n` (1, 2, ...): doubling from
-- base_delay up to max_delay, with jitter (50-100% of the step) to spread
-- the herd; 0 without a policy.
function retry.backoff(policy, n, random)
  if not policy then return 0 end
  local step = math.min(policy.max_delay, policy.base_delay * 2 ^ (n - 1))
  return step * (0.5 + 0.5 * (random or math.random)())
end

--- Seconds to wait before attempt `attempt + 1`, or nil to stop. `res` is
-- the core's result table; `waited` the seconds already spent waiting.
function retry.delay(policy, attempt, res, waited, random)
  if not policy or attempt >= policy.max_attempts then return nil end
  local transient = res.kind == "network" or (res.status and RETRY_STATUS[res.status])
  if not transient then return nil end
  local left = policy.budget - waited
  local wait = res.retry_after or retry.backoff(policy, attempt, random) -- the server knows best; 0 means now
  if wait > left then return nil end
  return wait
end

return retry
