-- Runs a command against the fake Genesys Cloud API:
--
--   lua5.4 spec/support/with-fake.lua CMD [ARGS...]
--
-- Starts the fake, runs the command through /bin/sh with the variables below
-- exported, stops the fake (also when the command fails) and exits with the
-- command's status. One argument is taken as a shell command line (so
-- 'make test && ./demo' works); several are quoted and run as one argv.
-- Run from the repository root.
package.path = "./?.lua;" .. package.path
local fake = require "spec.support.fake"

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

if #arg == 0 then
  io.stderr:write("usage: lua5.4 spec/support/with-fake.lua CMD [ARGS...]\n")
  os.exit(2)
end

local cmd
if #arg == 1 then
  cmd = arg[1]
else
  local parts = {}
  for i = 1, #arg do parts[i] = q(arg[i]) end
  cmd = table.concat(parts, " ")
end

local ok, srv = pcall(fake.start)
if not ok then
  io.stderr:write("with-fake: ", tostring(srv), "\n")
  os.exit(1)
end

local seed = fake.seed
local user = seed.users[seed.demo_user]
local env = {
  { "GENESYSCLOUD_BASE_URL", srv.http_url },
  { "GENESYSCLOUD_ACCESS_TOKEN", seed.admin_token },
  { "DEMO_USER_ID", user.id },
  { "DEMO_USER_TOKEN", seed.demo_token },
  { "FAKE_HTTPS_URL", srv.https_url },
  { "FAKE_CA_FILE", srv.ca_file },
  { "FAKE_OTHER_URL", srv.other_url },
  -- FAKE_ names, so the library does not pick them up by itself.
  { "FAKE_PROXY_URL", srv.proxy_url },
  { "FAKE_PROXY_USER", seed.proxy.user },
  { "FAKE_PROXY_PASSWORD", seed.proxy.password },
  { "FAKE_OAUTH_CLIENT_ID", seed.oauth_clients.admin.client_id },
  { "FAKE_OAUTH_CLIENT_SECRET", seed.oauth_clients.admin.client_secret },
  { "FAKE_PID", srv.pid },
}
local script = {}
for _, kv in ipairs(env) do
  script[#script + 1] = "export " .. kv[1] .. "=" .. q(kv[2])
end
script[#script + 1] = cmd

-- os.execute differs between 5.1 (a number) and 5.2+ (ok, how, code).
local ran, a, how, code = pcall(os.execute, table.concat(script, "\n"))
fake.stop()

local status
if not ran then
  io.stderr:write("with-fake: ", tostring(a), "\n")
  status = 1
elseif type(a) == "number" then
  status = a >= 256 and math.floor(a / 256) or a
elseif how == "signal" then
  status = 128 + code
else
  status = code or (a and 0 or 1)
end
os.exit(status)
