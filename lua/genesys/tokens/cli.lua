-- The genesys-tokens command: the Tokens calls for an operator at a shell,
-- and bulk revocation with a progress bar, a report and resume.
-- bin/genesys-tokens calls cli.main(arg); it returns the exit code:
-- 0 all done, 1 an API error, 2 a usage error, 3 a partial failure in bulk,
-- 130 interrupted (Ctrl-C).
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local json = require "genesys.tokens.json"
local options = require "genesys.tokens.options"
local tokens = require "genesys.tokens"

local cli = {}

local OK, API_ERROR, USAGE, PARTIAL, INTERRUPTED = 0, 1, 2, 3, 130

local HELP = {
  main = [[
usage: genesys-tokens [options] COMMAND [command options]

The Genesys Cloud Tokens API from a shell.

commands:
  me                      who this token is: organization, OAuth client, scopes
  verify                  is this token valid? (exit 0 if so, 1 if not)
  revoke-me               log this token out
  revoke USER_ID...       end every session of these users (also --file FILE)
  timeout get             the organization's idle-token timeout
  timeout set --seconds N [--enable|--disable]

options (each also read from the environment):
  --region REGION         e.g. eu-west-1, mypurecloud.ie   (GENESYSCLOUD_REGION)
  --base-url URL          an API base URL or gateway       (GENESYSCLOUD_BASE_URL)
  --token TOKEN           an access token                  (GENESYSCLOUD_ACCESS_TOKEN)
  --client-id ID          an OAuth client, client credentials (GENESYSCLOUD_OAUTHCLIENT_ID)
  --client-secret SECRET  its secret                       (GENESYSCLOUD_OAUTHCLIENT_SECRET)
  --timeout SECONDS       per request (default 16)
  -h, --help              this help, or a command's: genesys-tokens revoke --help
  --version

Secrets given as flags are visible to other users of this machine (ps):
prefer the environment variables. No secret is ever printed.

exit codes: 0 done, 1 API error, 2 usage error, 3 some revocations failed,
130 interrupted.

To check tokens at the edge instead, inside nginx: the module
genesys.tokens.gate (examples/nginx-gate/README.md).
]],
  me = [[
usage: genesys-tokens me [--json]

Shows the token's organization, home organization, OAuth client and
scopes (GET /api/v2/tokens/me, without resetting the idle timer).
  --json    the TokenInfo JSON as the API sent it
]],
  verify = [[
usage: genesys-tokens verify

Checks the token (HEAD /api/v2/tokens/me): prints "valid" and exits 0, or
"invalid" and exits 1; any other failure exits 1 with the error.
]],
  ["revoke-me"] = [[
usage: genesys-tokens revoke-me

Logs this token out (DELETE /api/v2/tokens/me).
]],
  revoke = [[
usage: genesys-tokens revoke USER_ID... [options]
       genesys-tokens revoke --file FILE [options]

Ends every session of each user (DELETE /api/v2/tokens/{userId}), many
at once, at the platform's rate limit.
  --file FILE         one user id per line; - for standard input; blank
                      lines and lines starting with # are ignored
  --concurrency N     requests in flight at once (default 8, at most 256)
  --report FILE       append one JSON line per user as each finishes
  --resume FILE       skip the users a previous report says are done (and
                      append to it, unless --report names another file)
  --quiet             no progress output

Progress goes to standard error: a bar with rate and ETA on a terminal,
a line every few seconds otherwise. Ctrl-C stops at once (requests in
flight are abandoned and reported as not revoked), flushes the report and
exits 130; run again with --resume to go on.
]],
  timeout = [[
usage: genesys-tokens timeout get [--json]
       genesys-tokens timeout set --seconds N [--enable|--disable]

Reads or sets the organization's idle-token timeout
(GET/PUT /api/v2/tokens/timeout; 300 to 28800 seconds).
]],
}

-- Options that take a value, and the flags that do not.
local VALUED = {
  ["--region"] = "region", ["--base-url"] = "base_url", ["--token"] = "access_token",
  ["--client-id"] = "client_id", ["--client-secret"] = "client_secret", ["--timeout"] = "timeout",
  ["--file"] = "file", ["--report"] = "report", ["--resume"] = "resume",
  ["--concurrency"] = "concurrency", ["--seconds"] = "seconds",
}
local FLAGS = {
  ["--json"] = "json", ["--enable"] = "enable", ["--disable"] = "disable", ["--quiet"] = "quiet",
  ["--help"] = "help", ["-h"] = "help", ["--version"] = "version",
}

local function parse(argv)
  local o, words = {}, {}
  local i, only_words = 1, false
  while argv[i] ~= nil do
    local a = argv[i]
    if only_words or a == "-" or a:sub(1, 1) ~= "-" then
      words[#words + 1] = a
    elseif a == "--" then
      only_words = true
    else
      local name, value = a:match("^(%-%-[%w-]+)=(.*)$")
      name = name or a
      if VALUED[name] then
        if value == nil then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, name .. " needs a value" end
        end
        o[VALUED[name]] = value
      elseif FLAGS[name] and value == nil then
        o[FLAGS[name]] = true
      else
        return nil, "unknown option " .. name
      end
    end
    i = i + 1
  end
  return o, words
end

local function say(...) io.stdout:write(...) io.stdout:write("\n") end
local function complain(...) io.stderr:write("genesys-tokens: ", ...) io.stderr:write("\n") end

local function usage_error(message, command)
  complain(message)
  io.stderr:write(("(see genesys-tokens %s--help)\n"):format(command and command .. " " or ""))
  return USAGE
end

-- A misuse error from the library without its Lua position.
local function bare(message)
  return (tostring(message):gsub("^[^:]*:%d+: ", ""):gsub("^genesys%.tokens: ", ""))
end

local function client_from(o)
  local opts = {}
  for _, key in ipairs { "region", "base_url", "access_token", "client_id", "client_secret" } do
    opts[key] = o[key]
  end
  if o.timeout then
    opts.timeout = tonumber(o.timeout)
    if not opts.timeout then return nil, "--timeout needs a number of seconds" end
  end
  local ok, c = pcall(tokens.new, options.with_environment(opts))
  if not ok then return nil, bare(c) end
  return c
end

---------------------------------------------------------------- commands

local function entity(e)
  if not e then return "(none)" end
  return ("%s (%s)"):format(e.name or "?", e.id or "?")
end

local function cmd_me(c, o)
  if o.json then
    local text, err = c:me { preserve_idle_ttl = true, raw = true }
    if not text then complain(bare(err)) return API_ERROR end
    say(text)
    return OK
  end
  local info, err = c:me { preserve_idle_ttl = true }
  if not info then complain(bare(err)) return API_ERROR end
  local client = info.OAuthClient or {}
  say("Organization:       ", entity(info.organization))
  say("Home organization:  ", entity(info.homeOrganization))
  if info.clonedUser then
    say("Cloned from user:   ", tostring(info.clonedUser.id), " in organization ",
      tostring(info.clonedUser.organization and info.clonedUser.organization.id))
  end
  say("OAuth client:       ", entity(client))
  say("  grant type:       ", client.authorizedGrantType or "?")
  local scopes = info.authorizedScope or {}
  say("Scopes:             ", #scopes > 0 and table.concat(scopes, ", ") or "(none)")
  if info.dateTokenIdles then say("Token idles at:     ", info.dateTokenIdles) end
  return OK
end

local function cmd_verify(c)
  local ok, err = c:verify()
  if ok then say("valid") return OK end
  if ok == false then say("invalid") return API_ERROR end
  complain(bare(err))
  return API_ERROR
end

local function cmd_revoke_me(c)
  local ok, err = c:revoke_me()
  if not ok then complain(bare(err)) return API_ERROR end
  say("revoked this token")
  return OK
end

local function show_timeout(t)
  say("Idle token timeout: ", t.enableIdleTokenTimeout and "enabled" or "disabled", ", ",
    tostring(t.idleTokenTimeoutSeconds or "?"), " s")
  for _, b in ipairs(t.inactivityTimeoutGroupBundles or {}) do
    say(("  priority %s: %s s for groups %s"):format(tostring(b.priority), tostring(b.timeoutSeconds),
      table.concat(b.groups or {}, ", ")))
  end
end

local function cmd_timeout(c, o, words)
  local action = words[2]
  if action == "get" then
    if o.json then
      local text, err = c:idle_timeout { raw = true }
      if not text then complain(bare(err)) return API_ERROR end
      say(text)
      return OK
    end
    local t, err = c:idle_timeout()
    if not t then complain(bare(err)) return API_ERROR end
    show_timeout(t)
    return OK
  elseif action == "set" then
    local seconds = tonumber(o.seconds)
    if not seconds or seconds % 1 ~= 0 then return usage_error("timeout set needs --seconds N (whole seconds)", "timeout") end
    if o.enable and o.disable then return usage_error("--enable and --disable together", "timeout") end
    local body = { idleTokenTimeoutSeconds = seconds }
    if o.enable then body.enableIdleTokenTimeout = true end
    if o.disable then body.enableIdleTokenTimeout = false end
    local t, err = c:set_idle_timeout(body)
    if not t then complain(bare(err)) return API_ERROR end
    show_timeout(t)
    return OK
  end
  return usage_error("timeout needs get or set", "timeout")
end

---------------------------------------------------------------- revoke

-- Ids from a file (or - for stdin): one a line, blank lines and # comments
-- skipped.
local function read_ids(path, into)
  local f, err = io.stdin, nil
  if path ~= "-" then f, err = io.open(path, "r") end
  if not f then return nil, err end
  for line in f:lines() do
    local id = line:match("^%s*(.-)%s*$")
    if id ~= "" and id:sub(1, 1) ~= "#" then into[#into + 1] = id end
  end
  if f ~= io.stdin then f:close() end
  return into
end

-- The ids a report says are done.
local function done_in(path)
  local done, n = {}, 0
  local f = io.open(path, "r")
  if not f then return done, 0 end
  for line in f:lines() do
    local entry = json.decode_object(line)
    if entry and entry.ok == true and type(entry.id) == "string" and not done[entry.id] then
      done[entry.id] = true
      n = n + 1
    end
  end
  f:close()
  return done, n
end

local function utc_now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

local function report_line(id, ok, err)
  local parts = { '{"id":', (require("cjson").encode(tostring(id))), ',"ok":', ok and "true" or "false",
    ',"time":"', utc_now(), '"' }
  if err then
    for _, key in ipairs { "kind", "status", "code", "message", "correlation_id" } do
      local v = err[key]
      if v ~= nil then
        parts[#parts + 1] = ',"' .. key .. '":' .. (type(v) == "number" and ("%d"):format(v)
          or require("cjson").encode(tostring(v)))
      end
    end
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

local function stderr_is_terminal()
  local ok = os.execute("test -t 2")
  return ok == true or ok == 0
end

local function clock(seconds)
  seconds = math.floor(seconds + 0.5)
  return ("%d:%02d"):format(math.floor(seconds / 60), seconds % 60)
end

-- Progress on stderr: a redrawn bar on a terminal, a line every few
-- seconds (and at the end) otherwise.
local function progress_display(quiet)
  local tty = not quiet and stderr_is_terminal()
  local start, last_draw, failed = core.now(), -1, 0
  local function text(done, total, t)
    local elapsed = math.max(t - start, 1e-6)
    local rate = done / elapsed
    local eta = rate > 0 and (total - done) / rate or 0
    return done, total, rate, eta, elapsed
  end
  return function(done, total, ok)
    if not ok then failed = failed + 1 end
    if quiet then return end
    local t = core.now()
    local final = done == total
    if not final and t - last_draw < (tty and 0.1 or 2) then return end
    last_draw = t
    local d, n, rate, eta = text(done, total, t)
    local pct = n > 0 and math.floor(100 * d / n) or 100
    if tty then
      local width = 30
      local filled = n > 0 and math.floor(width * d / n) or width
      io.stderr:write(("\r[%s%s] %d/%d %3d%% %6.1f/s ETA %s%s"):format(("#"):rep(filled),
        ("."):rep(width - filled), d, n, pct, rate, clock(eta), failed > 0 and ("  %d failed"):format(failed) or ""))
      if final then io.stderr:write("\n") end
    else
      io.stderr:write(("revoke: %d/%d (%d%%) %.1f/s ETA %s, %d failed\n"):format(d, n, pct, rate, clock(eta), failed))
    end
    io.stderr:flush()
  end
end

local function cmd_revoke(c, o, words)
  local ids = {}
  for i = 2, #words do ids[#ids + 1] = words[i] end
  if o.file then
    local got, err = read_ids(o.file, ids)
    if not got then complain("cannot read ", o.file, ": ", err) return USAGE end
  end
  if #ids == 0 then return usage_error("revoke needs user ids, or --file FILE", "revoke") end
  local concurrency
  if o.concurrency then
    concurrency = tonumber(o.concurrency)
    if not concurrency or concurrency % 1 ~= 0 or concurrency < 1 or concurrency > 256 then
      return usage_error("--concurrency must be a whole number from 1 to 256", "revoke")
    end
  end

  local report_path = o.report or o.resume
  local skipped = 0
  if o.resume then
    local done, n = done_in(o.resume)
    local rest = {}
    for _, id in ipairs(ids) do
      if done[id] then skipped = skipped + 1 else rest[#rest + 1] = id end
    end
    ids = rest
    if not o.quiet then
      io.stderr:write(("resume: %d already revoked (%d in the report), %d to go\n"):format(skipped, n, #ids))
    end
    if #ids == 0 then return OK end
  end
  local report
  if report_path then
    local err
    report, err = io.open(report_path, "a")
    if not report then complain("cannot write the report ", report_path, ": ", err) return USAGE end
  end

  local show = progress_display(o.quiet or #ids == 1)
  local function on_progress(done, total, id, ok, err)
    if report then
      report:write(report_line(id, ok, err))
      report:flush()
    end
    show(done, total, ok)
  end
  local ran, results, err = pcall(c.revoke_many, c, ids, { concurrency = concurrency, on_progress = on_progress })
  if report then report:close() end
  if not ran then
    if errors.interrupted(results) then
      io.stderr:write("\n")
      complain("interrupted: requests in flight were abandoned and reported as not revoked",
        report_path and ("; the report is in " .. report_path .. ": run again with --resume " .. report_path) or "")
      return INTERRUPTED
    end
    complain(bare(results))
    return USAGE
  end
  if not results then complain(bare(err)) return API_ERROR end

  local shown = 0
  for _, r in ipairs(results) do
    if not r.ok and not r.duplicate and shown < 20 then
      complain("not revoked: ", tostring(r.id), ": ", bare(r.err))
      shown = shown + 1
    end
  end
  if results.failed > shown then complain(("... %d more failures%s"):format(results.failed - shown,
    report_path and (", see " .. report_path) or "")) end
  if #ids == 1 then
    if results[1].ok then say("revoked every token of user ", ids[1]) return OK end
    return results[1].err.kind == "invalid" and USAGE or API_ERROR
  end
  say(("revoked %d of %d users in %.1f s%s"):format(results.succeeded, #ids - results.duplicates, results.elapsed,
    results.failed > 0 and (", " .. results.failed .. " failed") or ""))
  return results.failed > 0 and PARTIAL or OK
end

---------------------------------------------------------------- main

local COMMANDS = {
  me = cmd_me, verify = cmd_verify, ["revoke-me"] = cmd_revoke_me,
  revoke = cmd_revoke, timeout = cmd_timeout,
}

--- Runs the command line `argv` (a list of strings); returns the exit code.
function cli.main(argv)
  local o, words = parse(argv or {})
  if not o then return usage_error(words) end
  local command = words and words[1]
  if o.version then say("genesys-tokens ", core._VERSION) return OK end
  if o.help then
    io.stdout:write(HELP[command] or HELP.main)
    return OK
  end
  if not command then
    io.stderr:write(HELP.main)
    return USAGE
  end
  local run = COMMANDS[command]
  if not run then return usage_error("unknown command '" .. command .. "'") end
  if command ~= "revoke" and command ~= "timeout" and #words > 1 then
    return usage_error(command .. " takes no arguments", command)
  end
  local c, err = client_from(o)
  if not c then return usage_error(err) end
  local ran, code = pcall(run, c, o, words)
  c:close()
  if ran then return code end
  if errors.interrupted(code) then
    io.stderr:write("\n")
    complain("interrupted")
    return INTERRUPTED
  end
  error(code, 0) -- a bug: the traceback is wanted
end

return cli
