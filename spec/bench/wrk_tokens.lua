-- wrk script of the cold-cache case: each request carries a token no
-- request of this run has carried before, "tok-<prefix><5 digits>" (the
-- tokens fake.add_users makes). Thread t of T sends ids t+1, t+1+T, ...
--   wrk -s spec/bench/wrk_tokens.lua URL -- PREFIX COUNT THREADS
-- If a run sends more than COUNT requests it wraps around (those are
-- cache hits); done() prints "WRAPPED <n>" so the caller can tell.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

local prefix, count, step, n, wrapped

function init(args)
  prefix = args[1] or "gate-"
  count = tonumber(args[2]) or 1
  step = tonumber(args[3]) or 1
  n, wrapped = 0, 0
end

function request()
  local id = n * step + tid + 1
  n = n + 1
  if id > count then
    wrapped = wrapped + 1
    rawset(_G, "wrapped", wrapped) -- a global, so that done() can thread:get it
    id = (id - 1) % count + 1
  end
  return wrk.format("GET", "/", { Authorization = ("Bearer tok-%s%05d"):format(prefix, id) })
end

function done()
  local total = 0
  for _, t in ipairs(threads) do total = total + (tonumber(t:get("wrapped")) or 0) end
  io.write(("WRAPPED %d\n"):format(total))
end
