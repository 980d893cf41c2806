-- Bulk revocation: many DELETE /api/v2/tokens/{userId} at once, paced by
-- the platform's rate limit. The scheduling policy lives here; an engine
-- runs the transfers: libcurl's multi interface (the C core) outside nginx,
-- light threads over cosockets inside it. Every id ends with exactly one
-- result; duplicates are revoked once; invalid ids are never sent.
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local retry = require "genesys.tokens.retry"

local ngx = ngx -- a global inside OpenResty only

local bulk = {}

bulk.DEFAULT_CONCURRENCY = 8
-- How often one id may meet a 429 before it is given up on: the batch
-- pauses for each, so this only ends a run against a server that never
-- lets anything through.
bulk.MAX_RATE_LIMITED = 10
-- How often a run logs in again after a 401 to a token it obtained: a
-- login host whose tokens the API refuses must not loop.
bulk.MAX_LOGINS = 3

---------------------------------------------------------------- engines

-- The C core's multi handle: start() and poll() map one to one.
local function curl_engine(transport, concurrency)
  local b, err = transport:bulk(concurrency)
  if not b then return nil, err end
  return {
    free_slots = function() return b:free_slots() end,
    in_flight = function() return b:in_flight() end,
    start = function(tag, token, id)
      local ok = b:start(tag, token, id)
      if ok ~= true then return ok end -- a failure before sending
    end,
    poll = function(timeout) return b:poll(timeout) end,
    close = function() b:close() end,
  }
end

-- Light threads over the cosocket transport; poll waits on a semaphore.
local function ngx_engine(transport, concurrency)
  local semaphore = require "ngx.semaphore"
  local sema = semaphore.new(0)
  local finished, running, threads = {}, 0, {}
  return {
    free_slots = function() return concurrency - running end,
    in_flight = function() return running end,
    start = function(tag, token, id)
      running = running + 1
      threads[tag] = ngx.thread.spawn(function()
        local ok, res = pcall(transport.revoke, transport, token, id)
        if not ok then res = { kind = "network", code = "CURLE_OTHER", message = tostring(res) } end
        finished[#finished + 1] = { tag, res }
        sema:post(1)
      end)
    end,
    poll = function(timeout)
      if #finished == 0 and running > 0 and timeout > 0 then sema:wait(timeout) end
      local out = finished
      finished = {}
      for _, pair in ipairs(out) do threads[pair[1]] = nil end
      running = running - #out
      return out
    end,
    close = function()
      for _, thread in pairs(threads) do ngx.thread.kill(thread) end
      threads, running = {}, 0
    end,
  }
end

---------------------------------------------------------------- the run

local function misuse(message, level)
  error("genesys.tokens: " .. message, level + 1)
end

local OPTIONS = { concurrency = "number", on_progress = "function", access_token = "string", deadline = "number" }

local function check_options(opts, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then misuse("revoke_many options must be a table, got " .. type(opts), level + 1) end
  for k, v in pairs(opts) do
    if not OPTIONS[k] then misuse(("unknown revoke_many option '%s'"):format(tostring(k)), level + 1) end
    if type(v) ~= OPTIONS[k] then
      misuse(("revoke_many option '%s' must be a %s, got %s"):format(k, OPTIONS[k], type(v)), level + 1)
    end
  end
  local c = opts.concurrency
  if c ~= nil and (c ~= c or c < 1 or c > 256 or c % 1 ~= 0) then
    misuse("concurrency must be a whole number from 1 to 256", level + 1)
  end
  local d = opts.deadline
  if d ~= nil and not (d > 0 and d <= 7 * 86400) then
    misuse("deadline must be a number of seconds from 0 to 604800 (a week)", level + 1)
  end
  return opts
end

-- The rate-limit window a response describes: requests allowed, used, and
-- seconds until it resets; nil when the headers are missing or make no
-- sense (a window of no requests, or of no time, or longer than five of
-- the platform's minute-long windows), as if they had not been sent.
local WINDOW_MAX = 300
local function window_of(res)
  local allowed, count, reset = res.ratelimit_allowed, res.ratelimit_count, res.ratelimit_reset
  if not (allowed and count and reset) or allowed < 1 or reset < 1 or reset > WINDOW_MAX then return nil end
  return allowed, count, reset
end

--- Runs a batch. `ctx` comes from the client: transport, engine kind
-- ("curl" or "ngx"), sleep, now, token (a function giving the bearer token
-- or nil, err; called again with `true` to renew after a 401), retry
-- policy, secrets (a function), log (function(res, attempt, duration)).
-- Returns the results list (see README) or raises on misuse.
function bulk.run(ctx, user_ids, opts, level)
  level = level + 1
  if type(user_ids) ~= "table" then
    misuse("user_ids must be a table (a list of user ids), got " .. type(user_ids), level)
  end
  opts = check_options(opts, level)
  local concurrency = opts.concurrency or bulk.DEFAULT_CONCURRENCY
  local now, sleep = ctx.now, ctx.sleep
  local started_at = now()

  -- Sort the input: invalid ids are answered now, duplicates share the
  -- outcome of the first occurrence, the rest queue up in input order.
  local results = { succeeded = 0, failed = 0, invalid = 0, duplicates = 0 }
  local first_index, queue, outcome = {}, {}, {}
  local n = #user_ids
  for i = 1, n do
    local id = user_ids[i]
    local problem = type(id) ~= "string" and ("user id must be a string, got " .. type(id))
      or core.user_id_problem(id)
    if problem then
      results[i] = { id = id, ok = false, err = errors.new { kind = "invalid", message = problem } }
      results.invalid = results.invalid + 1
    elseif first_index[id] then
      results[i] = { id = id, duplicate = true }
      results.duplicates = results.duplicates + 1
    else
      first_index[id] = i
      queue[#queue + 1] = id
    end
  end
  local total = #queue + results.invalid
  local done = 0

  -- on_progress stops the run by raising (the error then reaches the
  -- caller) or by returning false (revoke_many returns): either way
  -- nothing new starts and what is in flight finishes.
  local progress_error, stop_asked, stopping = nil, false, false
  local function progress(id, ok, err)
    done = done + 1
    if opts.on_progress and not progress_error then
      local fine, message = pcall(opts.on_progress, done, total, id, ok, err)
      if not fine and errors.interrupted(message) then error(message, 0) end -- Ctrl-C: the run stops now
      if not fine then progress_error, stopping = message, true end
      if fine and message == false then stop_asked, stopping = true, true end
    end
  end
  for i = 1, n do
    local r = results[i]
    if r and r.err and r.err.kind == "invalid" then progress(r.id, false, r.err) end
  end
  if #queue == 0 or progress_error then
    results.failed = results.invalid
    if progress_error then misuse("on_progress raised: " .. tostring(progress_error), level) end
    return results
  end

  local token, err = ctx.token(false)
  if not token then return nil, err end

  local engine
  engine, err = (ctx.engine == "ngx" and ngx_engine or curl_engine)(ctx.transport, concurrency)
  if not engine then return nil, errors.new { kind = "network", message = err } end

  -- Every wait and the whole run are bounded: an id's waits by the retry
  -- budget, the run by the deadline when one is given.
  local budget = ctx.retry and ctx.retry.budget or 0
  local deadline = opts.deadline and started_at + opts.deadline or math.huge
  -- attempts: requests sent for an id (what its result reports); tries:
  -- those the retry policy counts (not the 429s, not a 401 to a token the
  -- run has since replaced).
  local attempts, tries, waited, limited, not_before, started = {}, {}, {}, {}, {}, {}
  local in_flight, sent_with = {}, {} -- id -> true while its request runs; the token it went with
  local head, retries = 1, {} -- queue position; ids waiting for a retry
  -- The rate-limit window as the responses' headers describe it: requests
  -- left, when it ends, how many a window allows, and the highest count
  -- seen in it (responses can be read out of order: an older, lower count
  -- must not give back requests already spent). Its end is the earliest
  -- any response gave: waiting too little costs a 429 (and a pause),
  -- waiting too long is a hang. A new window's end is a guess until its
  -- first response.
  local paused_until, window_left, window_ends, window_allowed, window_count = 0, nil, 0, nil, 0
  local window_guessed = true
  local renewed, logins = {}, 0 -- token -> true once a 401 to it made the run log in again

  local function finish(id, ok, e)
    outcome[id] = { ok = ok, err = e }
    if ok then results.succeeded = results.succeeded + 1 else results.failed = results.failed + 1 end
    progress(id, ok, e)
  end

  local function next_id(t)
    for i, id in ipairs(retries) do
      if not_before[id] <= t then
        table.remove(retries, i)
        return id
      end
    end
    if head <= #queue then
      head = head + 1
      return queue[head - 1]
    end
  end

  local function later(id, t) -- back in line at time t
    not_before[id] = t
    retries[#retries + 1] = id
  end

  local function failed(id, res)
    if res.kind then
      return finish(id, false, errors.new({ kind = res.kind, code = res.code, message = res.message,
        correlation_id = res.correlation_id }, ctx.secrets()))
    end
    return finish(id, false, errors.from_response(res, ctx.secrets()))
  end

  local function on_response(id, res, t)
    in_flight[id] = nil
    attempts[id] = (attempts[id] or 0) + 1
    tries[id] = (tries[id] or 0) + 1
    ctx.log(res, attempts[id], t - started[id])
    local allowed, count, reset = window_of(res)
    if allowed then
      if window_guessed then
        window_count, window_ends, window_guessed = count, t + reset, false
      else
        window_count, window_ends = math.max(window_count, count), math.min(window_ends, t + reset)
      end
      window_left = allowed - window_count - engine.in_flight()
      window_allowed = allowed
    end
    local status = not res.kind and res.status -- a failure after the status line is a failure
    if status and status >= 200 and status <= 299 then return finish(id, true) end
    if status == 429 then
      limited[id] = (limited[id] or 0) + 1
      tries[id] = tries[id] - 1 -- a pause, not a failed try
      -- The whole batch waits, not just this id; an id that would wait
      -- longer than its budget allows gives up (with retry_after set), and
      -- without a retry policy at once.
      local resume = math.max(paused_until, t + (res.retry_after or retry.backoff(ctx.retry, limited[id])))
      local wait = resume - t
      if ctx.retry and limited[id] < bulk.MAX_RATE_LIMITED and (waited[id] or 0) + wait <= budget then
        waited[id] = (waited[id] or 0) + wait
        paused_until = resume
        return later(id, resume)
      end
    elseif status == 401 and ctx.can_renew and (sent_with[id] ~= token
        or not renewed[token] and logins < bulk.MAX_LOGINS) then
      tries[id] = tries[id] - 1
      -- Sent with a token the run has since replaced: again with the new
      -- one. Else one fresh login per refused token, not per id.
      if sent_with[id] == token then
        renewed[token], logins = true, logins + 1
        local fresh, e = ctx.token(true)
        if not fresh then return finish(id, false, e) end
        token = fresh
      end
      return later(id, t)
    else
      local delay = retry.delay(ctx.retry, tries[id], res, waited[id] or 0)
      if delay then
        waited[id] = (waited[id] or 0) + delay
        return later(id, t + delay)
      end
    end
    return failed(id, res)
  end

  -- One step: start what may start, then collect what finished. Returns
  -- false when everything is done.
  local timed_out = false
  local function step()
    local t = now()
    if t >= deadline then
      timed_out = true
      return false
    end
    if window_left and t >= window_ends then
      -- A new window: as many as the last one allowed, until a response
      -- says more precisely (its end is a guess until then).
      window_left, window_ends, window_count, window_guessed = window_allowed, t + 1, 0, true
    end
    while not stopping and engine.free_slots() > 0 and t >= paused_until
        and not (window_left and window_left <= 0) do
      local id = next_id(t)
      if not id then break end
      started[id] = t
      -- The token now: the source renews it shortly before it expires.
      local current, e = ctx.token(false)
      if current then
        token = current
        local failure = engine.start(first_index[id], token, id)
        if failure then
          failed(id, failure)
        else
          in_flight[id], sent_with[id] = true, token
          if window_left then window_left = window_left - 1 end
        end
      else
        finish(id, false, e)
      end
    end
    if engine.in_flight() == 0 then
      if stopping or (head > #queue and #retries == 0) then return false end
      -- Nothing in flight: wait for the pause, the window or a retry.
      local wake = math.huge
      for _, id in ipairs(retries) do wake = math.min(wake, not_before[id]) end
      if head <= #queue then wake = t end
      wake = math.min(deadline, math.max(wake, paused_until, window_left and window_left <= 0 and window_ends or 0))
      if wake > t then sleep(math.min(wake - t, 60)) end
      return true
    end
    for _, pair in ipairs(engine.poll(math.min(0.05, math.max(0, deadline - t)))) do
      on_response(user_ids[pair[1]], pair[2], now()) -- the tag is the input index
    end
    return true
  end

  -- The run. An error inside it (the interpreter's "interrupted!" on
  -- Ctrl-C, a failing engine) aborts what is in flight at once; an
  -- on_progress that raised lets it finish, then stops.
  local function loop()
    for _ = 1, 1e9 do
      if not step() then return end
    end
  end
  local ran, stop_error = pcall(loop)
  local ended = not ran and "interrupted" or timed_out and "timeout" or nil
  engine.close()
  if ended then
    local why = ended == "timeout" and "the run's deadline passed" or "the run was stopped: " .. tostring(stop_error)
    for _, id in ipairs(queue) do
      if in_flight[id] then
        attempts[id] = (attempts[id] or 0) + 1
        finish(id, false, errors.new({ kind = ended, code = ended == "timeout" and "deadline" or nil,
          message = "not known whether revoked: " .. why .. " while its request was in flight" }, ctx.secrets()))
      end
    end
  end

  -- Ids never started (a stop, the deadline) end as not done.
  for _, id in ipairs(queue) do
    if not outcome[id] then
      outcome[id] = { ok = false, err = errors.new({ kind = "stopped",
        message = ended == "timeout" and "not revoked: the run's deadline passed" or "not revoked: the run was stopped" }) }
      results.failed = results.failed + 1
    end
  end
  for i = 1, n do
    local r = results[i]
    if not r then
      local o = outcome[user_ids[i]]
      results[i] = { id = user_ids[i], ok = o.ok, err = o.err, attempts = attempts[user_ids[i]] }
    elseif r.duplicate then
      local o = outcome[r.id]
      r.ok, r.err = o.ok, o.err
    end
  end
  results.failed = results.failed + results.invalid
  results.elapsed = now() - started_at
  if not ran then
    results.stopped = tostring(stop_error)
    error(stop_error, 0) -- e.g. "interrupted!": the caller decides (the CLI exits 130)
  end
  if progress_error then
    results.stopped = "on_progress raised: " .. tostring(progress_error)
    misuse(results.stopped, level)
  end
  if ended then results.stopped = "the run's deadline passed" end
  if stop_asked then results.stopped = "on_progress returned false" end
  return results
end

return bulk
