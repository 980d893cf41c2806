-- Resident memory of a Lua 5.4 process holding many genesys.tokens
-- clients: after loading the module, after creating COUNT clients
-- (tokens.new each), and, when BASE_URL is given, after one me() on each
-- (each then holds its own keep-alive connection and libcurl's buffers).
--
--   lua5.4 spec/bench/clients_rss.lua COUNT [BASE_URL]
--
-- Prints "RESULT base=<KiB> created=<KiB> used=<KiB>" (VmRSS, after a full
-- garbage collection; used is 0 without BASE_URL).
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local tokens = require "genesys.tokens"

local count = assert(tonumber(arg[1]), "usage: clients_rss.lua COUNT [BASE_URL]")
local base_url = arg[2]
assert(count >= 1 and count <= 100000)

local function rss_kib()
  collectgarbage("collect")
  collectgarbage("collect")
  local f = assert(io.open("/proc/self/status"))
  local status = f:read("a")
  f:close()
  return tonumber(status:match("VmRSS:%s*(%d+) kB"))
end

-- The first client pays for libcurl's global init and the module's lazy
-- parts; make and drop one before the baseline.
tokens.new({ base_url = "http://127.0.0.1:9", access_token = "warm-up-token" }):close()
local base = rss_kib()

local clients = {}
for i = 1, count do
  clients[i] = tokens.new { base_url = base_url or "http://127.0.0.1:9",
    access_token = ("bench-client-token-%06d"):format(i) }
end
local created = rss_kib()

local used = 0
if base_url then
  for i, c in ipairs(clients) do
    local info, err = c:me()
    if not info then error(("client %d: %s"):format(i, tostring(err))) end
  end
  used = rss_kib()
end
print(("RESULT base=%d created=%d used=%d"):format(base, created, used))
for _, c in ipairs(clients) do c:close() end
