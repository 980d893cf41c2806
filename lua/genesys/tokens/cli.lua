-- The genesys-tokens command: the Tokens calls for an operator at a shell,
-- and bulk revocation with a progress bar, a report and resume.
-- bin/genesys-tokens calls cli.main(arg), which returns the exit code
-- (cli.EXIT). Every failure is one line on stderr; nothing it prints ever
-- holds a secret given to it.
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local flags = require "genesys.tokens.cli.flags"
local ids_input = require "genesys.tokens.cli.ids"
local report = require "genesys.tokens.cli.report"
local signals = require "genesys.tokens.cli.signals"
local tokens = require "genesys.tokens"

local cli = {}

-- The exit codes, as --help and the README list them; a signal gives
-- 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
cli.EXIT = {
  ok = 0,        -- done; verify: the token is valid
  failed = 1,    -- the API call failed; verify: the token is invalid
  usage = 2,     -- a usage error (and an id that cannot be one)
  partial = 3,   -- some users of a revoke were not revoked
  unsure = 4,    -- verify could not tell (no answer, a server error)
  output = 5,    -- the report or standard output could not be written
  internal = 70, -- a bug in this command
}
local EXIT = cli.EXIT
local SIGNALS = { [1] = "SIGHUP", [2] = "SIGINT", [15] = "SIGTERM" }
-- After a signal, the seconds it has to clean up (the report's last
-- records, the summary) before it ends anyway (signals.catch).
local GRACE = 0.5

local OPTIONS_HELP = [[
options (each also read from the environment variable beside it):
  --region REGION       e.g. eu-west-1, mypurecloud.ie   GENESYSCLOUD_REGION
  --base-url URL        an API base URL or gateway       GENESYSCLOUD_BASE_URL
  --login-url URL       where to log in, if not beside   GENESYS_TOKENS_LOGIN_URL
  --token TOKEN         an access token                  GENESYSCLOUD_ACCESS_TOKEN
  --client-id ID        an OAuth client (client credentials)  GENESYSCLOUD_OAUTHCLIENT_ID
  --client-secret SECRET  its secret                     GENESYSCLOUD_OAUTHCLIENT_SECRET
  --timeout SECONDS     per request (default 16)         GENESYS_TOKENS_TIMEOUT
  --ca-file FILE        CA certificates to trust         GENESYS_TOKENS_CA_FILE
  --proxy URL           an HTTP(S) proxy                 GENESYS_TOKENS_PROXY
  --allow-http          allow http:// to a non-loopback host  GENESYS_TOKENS_ALLOW_HTTP=1
  --log-level LEVEL     none, error, debug or trace, to stderr  GENESYS_TOKENS_LOG_LEVEL
  -h, --help            this help, or a command's: genesys-tokens revoke --help
  --version
]]

local HELP = {
  main = [[
usage: genesys-tokens [options] COMMAND [command options]

The Genesys Cloud Tokens API from a shell.

commands:
  me                      who this token is: organization, OAuth client, scopes
  verify                  is this token valid? (exit 0 valid, 1 invalid, 4 unknown)
  revoke-me               log this token out
  revoke USER_ID...       end every session of these users (also --file FILE)
  timeout get             the organization's idle-token timeout
  timeout set --seconds N [--enable|--disable]

]] .. OPTIONS_HELP .. [[

A flag wins over its variable. --client-id or --client-secret as a flag
takes the other from the environment, never a token; --token as a flag
ignores an OAuth client there. Secrets given as flags are visible to other
users of this machine (ps): prefer the environment. No secret is printed.

exit codes: 0 done, 1 API error (verify: invalid), 2 usage error,
3 some revocations failed, 4 verify could not tell, 5 the report or the
output could not be written, 70 internal error, 130 SIGINT (Ctrl-C),
143 SIGTERM, 129 SIGHUP.

To check tokens at the edge instead, inside nginx: the module
genesys.tokens.gate (examples/nginx-gate/README.md).
]],
  me = [[
usage: genesys-tokens me [--json] [options]   (options: see genesys-tokens --help)

Shows the token's organization, home organization, OAuth client and
scopes (GET /api/v2/tokens/me, without resetting the idle timer).
  --json    the TokenInfo JSON as the API sent it     GENESYS_TOKENS_JSON=1
]],
  verify = [[
usage: genesys-tokens verify [options]   (options: see genesys-tokens --help)

Checks the token (HEAD /api/v2/tokens/me): prints "valid" and exits 0,
or "invalid" and exits 1 (the API said 401). When it cannot tell (no
answer, a timeout, a server error, a rate limit), it says why and exits 4.
]],
  ["revoke-me"] = [[
usage: genesys-tokens revoke-me [options]   (options: see genesys-tokens --help)

Logs this token out (DELETE /api/v2/tokens/me).
]],
  revoke = [[
usage: genesys-tokens revoke USER_ID... [options]
       genesys-tokens revoke --file FILE [options]   (options: see genesys-tokens --help)

Ends every session of each user (DELETE /api/v2/tokens/{userId}), many
at once, at the platform's rate limit.
  --file FILE         one user id a line, - for standard input; a BOM,
                      CRLF, blank lines and # comments (a line of its own,
                      or after a space) are fine       GENESYS_TOKENS_FILE
  --concurrency N     requests in flight at once (default 8, at most 256)
                                                       GENESYS_TOKENS_CONCURRENCY
  --report FILE       append one JSON line per user as each finishes
                                                       GENESYS_TOKENS_REPORT
  --resume FILE       skip the users a previous report says are revoked
                      (and append to it, unless --report names another)
                                                       GENESYS_TOKENS_RESUME
  --quiet             no progress output               GENESYS_TOKENS_QUIET=1

An id with an invisible or control character, or bytes that are not
UTF-8, is not sent: it is reported as invalid, those characters escaped.
Progress goes to standard error: a bar with rate and ETA on a terminal,
a line every few seconds otherwise. If the report cannot be written (a
full disk), nothing new starts, what is in flight finishes and is listed
on stderr, and it exits 5. Ctrl-C (or SIGTERM) stops at once: requests in
flight are abandoned and reported as not revoked, the report is flushed,
and it exits 130 (143); run again with --resume to go on. Repeated ids
are revoked once.
]],
  timeout = [[
usage: genesys-tokens timeout get [--json] [options]
       genesys-tokens timeout set --seconds N [--enable|--disable] [options]

Reads or sets the organization's idle-token timeout
(GET/PUT /api/v2/tokens/timeout). Options: see genesys-tokens --help.
  --json        (get) the JSON as the API sent it       GENESYS_TOKENS_JSON=1
  --seconds N   (set) 300 to 28800                      GENESYS_TOKENS_SECONDS
  --enable      (set) turn the timeout on               GENESYS_TOKENS_ENABLE=1
  --disable     (set) turn it off                       GENESYS_TOKENS_DISABLE=1
]],
}

---------------------------------------------------------------- output

local secrets = {} -- the secrets in play, kept out of everything printed
local bar_open = false -- a progress bar is drawn on the current line

local function scrub(...)
  local text = table.concat({ ... })
  return errors.redact(text, secrets)
end

local function say(...) io.stdout:write(scrub(...), "\n") end

local function complain(...)
  if bar_open then io.stderr:write("\n") bar_open = false end
  io.stderr:write("genesys-tokens: ", ids_input.visible(scrub(...):gsub("[\r\n]+", " ")), "\n")
end

local function usage_error(message, command)
  complain(message, (" (see genesys-tokens %s--help)"):format(command and command .. " " or ""))
  return EXIT.usage
end

-- A library error or misuse message without its Lua position, its
-- option names spelled as the command's flags.
local function bare(message)
  local text = tostring(message):gsub("^[^:]*:%d+: ", ""):gsub("^genesys%.tokens: ", "")
  return flags.spelled_as_flags(text)
end

local function is_misuse(e)
  return type(e) == "string" and e:find("genesys.tokens: ", 1, true) ~= nil
end

---------------------------------------------------------------- commands

-- What the server sent, shown so that it cannot pose as our output (no
-- control sequence, line break or direction override).
local function shown(v) return ids_input.visible(tostring(v)) end

local function entity(e)
  if not e then return "(none)" end
  return ("%s (%s)"):format(shown(e.name or "?"), shown(e.id or "?"))
end

local function cmd_me(c, o)
  if o.json then
    local text, err = c:me { preserve_idle_ttl = true, raw = true }
    if not text then complain(bare(err)) return EXIT.failed end
    say(text)
    return EXIT.ok
  end
  local info, err = c:me { preserve_idle_ttl = true }
  if not info then complain(bare(err)) return EXIT.failed end
  local client = info.OAuthClient or {}
  say("Organization:       ", entity(info.organization))
  say("Home organization:  ", entity(info.homeOrganization))
  if info.clonedUser then
    say("Cloned from user:   ", shown(info.clonedUser.id), " in organization ",
      shown(info.clonedUser.organization and info.clonedUser.organization.id))
  end
  say("OAuth client:       ", entity(client))
  say("  grant type:       ", shown(client.authorizedGrantType or "?"))
  local scopes = {}
  for i, scope in ipairs(info.authorizedScope or {}) do scopes[i] = shown(scope) end
  say("Scopes:             ", #scopes > 0 and table.concat(scopes, ", ") or "(none)")
  if info.dateTokenIdles then say("Token idles at:     ", shown(info.dateTokenIdles)) end
  return EXIT.ok
end

local function cmd_verify(c)
  local ok, err = c:verify()
  if ok then say("valid") return EXIT.ok end
  if ok == false then say("invalid") return EXIT.failed end
  complain("could not tell: ", bare(err))
  return EXIT.unsure
end

local function cmd_revoke_me(c)
  local ok, err = c:revoke_me()
  if not ok then complain(bare(err)) return EXIT.failed end
  say("revoked this token")
  return EXIT.ok
end

local function show_timeout(t)
  say("Idle token timeout: ", t.enableIdleTokenTimeout and "enabled" or "disabled", ", ",
    tostring(t.idleTokenTimeoutSeconds or "?"), " s")
  for _, b in ipairs(t.inactivityTimeoutGroupBundles or {}) do
    local groups = {}
    for i, g in ipairs(b.groups or {}) do groups[i] = shown(g) end
    say(("  priority %s: %s s for groups %s"):format(shown(b.priority), shown(b.timeoutSeconds),
      table.concat(groups, ", ")))
  end
end

local function cmd_timeout_get(c, o)
  if o.json then
    local text, err = c:idle_timeout { raw = true }
    if not text then complain(bare(err)) return EXIT.failed end
    say(text)
    return EXIT.ok
  end
  local t, err = c:idle_timeout()
  if not t then complain(bare(err)) return EXIT.failed end
  show_timeout(t)
  return EXIT.ok
end

-- The idle-token timeout the platform accepts, in seconds.
local TIMEOUT_MIN, TIMEOUT_MAX = 300, 28800

local function cmd_timeout_set(c, o, _, source)
  local seconds = type(o.seconds) == "string" and o.seconds:match("^%d%d?%d?%d?%d?%d?%d?%d?%d?$")
  seconds = seconds and math.floor(tonumber(seconds))
  if not seconds or seconds < TIMEOUT_MIN or seconds > TIMEOUT_MAX then
    return usage_error(("timeout set needs %s N, a whole number of seconds from %d to %d"):format(
      flags.named("seconds", source), TIMEOUT_MIN, TIMEOUT_MAX), "timeout")
  end
  if o.enable and o.disable then
    -- A flag wins over its variable; both as flags is a mistake.
    if source.enable == source.disable then return usage_error("--enable and --disable together", "timeout") end
    if source.enable == "env" then o.enable = nil else o.disable = nil end
  end
  local body = { idleTokenTimeoutSeconds = seconds }
  if o.enable then body.enableIdleTokenTimeout = true end
  if o.disable then body.enableIdleTokenTimeout = false end
  local t, err = c:set_idle_timeout(body)
  if not t then complain(bare(err)) return EXIT.failed end
  show_timeout(t)
  return EXIT.ok
end

---------------------------------------------------------------- revoke

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
  return function(done, total, ok)
    if not ok then failed = failed + 1 end
    if quiet then return end
    local t = core.now()
    local final = done == total
    if not final and t - last_draw < (tty and 0.1 or 2) then return end
    last_draw = t
    -- A rate (and an ETA) from less than a second would be noise.
    local elapsed = t - start
    local rate = done / math.max(elapsed, 1e-6)
    local known = elapsed >= 1 or final
    local speed = known and ("%.1f/s"):format(rate) or "--/s"
    local eta = known and clock(rate > 0 and (total - done) / rate or 0) or "-:--"
    local pct = total > 0 and math.floor(100 * done / total) or 100
    if tty then
      local width = 30
      local filled = total > 0 and math.floor(width * done / total) or width
      io.stderr:write(("\r[%s%s] %d/%d %3d%% %8s ETA %s%s"):format(("#"):rep(filled),
        ("."):rep(width - filled), done, total, pct, speed, eta,
        failed > 0 and ("  %d failed"):format(failed) or ""))
      bar_open = not final
      if final then io.stderr:write("\n") end
    else
      io.stderr:write(("revoke: %d/%d (%d%%) %s ETA %s, %d failed\n"):format(done, total, pct, speed,
        eta, failed))
    end
    io.stderr:flush()
  end
end

-- The ids to revoke, from the arguments and --file, and those refused
-- here because they would not be sent as they read. Returns the list of
-- ids, the list of refusals, or nil and a usage message.
local function gather_ids(o, words)
  local list = {}
  for i = 2, #words do
    if words[i] == "-" then return nil, "'-' is not a user id (to read ids from standard input: --file -)" end
    list[#list + 1] = words[i]
  end
  if o.file then
    local got, err = ids_input.read(o.file, list)
    if not got then return nil, "cannot read the ids: " .. tostring(err) end
    if #list == 0 then return nil, "no user ids in " .. (o.file == "-" and "standard input" or o.file) end
  end
  if #list == 0 then return nil, "revoke needs user ids, or --file FILE" end
  -- Each id once: a repeat shares the first one's outcome.
  local send, refused, seen, repeats = {}, {}, {}, 0
  for _, id in ipairs(list) do
    if seen[id] then
      repeats = repeats + 1
    else
      seen[id] = true
      local escaped, problem = ids_input.check(id)
      if problem then
        refused[#refused + 1] = { id = id, shown = escaped,
          err = errors.new { kind = "invalid", message = "user id contains " .. problem } }
      else
        send[#send + 1] = id
      end
    end
  end
  return send, refused, repeats
end

-- The report may be neither standard output nor the ids file it would
-- then grow into.
local function report_problem(o)
  for _, key in ipairs { "report", "resume" } do
    local path = o[key]
    if path == "-" then return ("--%s needs a file: '-' (standard output) is not one"):format(key) end
    if path and path == o.file then return ("--%s and --file name the same file"):format(key) end
  end
end

local function cmd_revoke(c, o, words, source)
  local problem = report_problem(o)
  if problem then return usage_error(problem, "revoke") end
  local ids, refused, repeats = gather_ids(o, words)
  if not ids then return usage_error(refused, "revoke") end
  local concurrency
  if o.concurrency then
    concurrency = tonumber(o.concurrency)
    if not concurrency or concurrency % 1 ~= 0 or concurrency < 1 or concurrency > 256 then
      return usage_error(flags.named("concurrency", source) .. " must be a whole number from 1 to 256", "revoke")
    end
  end
  if repeats > 0 and not o.quiet then io.stderr:write(("revoke: %d repeated ids, each revoked once\n"):format(repeats)) end

  local report_path = o.report or o.resume
  if o.resume then
    local done, n = report.done(o.resume)
    if not done then return usage_error("cannot read the report: " .. tostring(n), "revoke") end
    local rest, skipped = {}, 0
    for _, id in ipairs(ids) do
      if done[id] then skipped = skipped + 1 else rest[#rest + 1] = id end
    end
    ids = rest
    if not o.quiet then
      io.stderr:write(("resume: %d already revoked (%d in the report), %d to go\n"):format(skipped, n,
        #ids + #refused))
    end
    if #ids + #refused == 0 then return EXIT.ok end
  end
  local writer
  if report_path then
    local err
    writer, err = report.open(report_path)
    if not writer then return usage_error("cannot write the report: " .. tostring(err), "revoke") end
  end

  -- The report and the display see every id; a report that cannot be
  -- written stops the run (on_progress returns false), and what finishes
  -- after that is listed on stderr instead.
  local total = #ids + #refused
  local show = progress_display(o.quiet or total == 1)
  local write_error, unrecorded, done = nil, {}, 0
  local function record(id, ok, err)
    done = done + 1
    if writer and not write_error then
      local _, e = writer.write(scrub(report.line(id, ok, err)))
      write_error = e
    end
    if write_error then unrecorded[#unrecorded + 1] = { id = id, ok = ok } end
    show(done, total, ok)
    return not write_error
  end
  -- A refused id is recorded as shown: its bytes may not be UTF-8.
  for _, r in ipairs(refused) do record(r.shown, false, r.err) end

  local ran, results, err = true, { succeeded = 0, failed = 0, duplicates = 0, elapsed = 0 }, nil
  if #ids > 0 and not write_error then
    ran, results, err = pcall(c.revoke_many, c, ids, { concurrency = concurrency,
      on_progress = function(_, _, id, ok, e) return record(id, ok, e) end })
  end
  local closed, close_error = true, nil
  if writer then closed, close_error = writer.close() end
  if not ran then
    if not errors.interrupted(results) then error(results, 0) end
    local signo = signals.caught() or 2
    complain("interrupted by ", SIGNALS[signo] or ("signal " .. signo),
      ": requests in flight were abandoned and reported as not revoked",
      report_path and ("; the report is in " .. report_path .. ": run again with --resume " .. report_path) or "",
      closed and "" or ("; but the report could not be written: " .. tostring(close_error)))
    return 128 + signo
  end
  if not results then complain(bare(err)) return EXIT.failed end

  local listed = 0
  for _, r in ipairs(refused) do
    if listed < 20 then complain("not revoked: \"", r.shown, "\": ", r.err.message) end
    listed = listed + 1
  end
  for _, r in ipairs(results) do
    if not r.ok and not r.duplicate and not (write_error and r.err.kind == "stopped") then
      if listed < 20 then complain("not revoked: ", tostring(r.id), ": ", bare(r.err)) end
      listed = listed + 1
    end
  end
  if listed > 20 then complain(("... %d more failures%s"):format(listed - 20,
    report_path and not write_error and (", see " .. report_path) or "")) end

  if write_error or not closed then
    for _, u in ipairs(unrecorded) do
      complain("not in the report: ", u.ok and "revoked " or "not revoked ", u.id)
    end
    local not_started = #results == 0 and #ids or 0
    for _, r in ipairs(results) do
      if not r.duplicate and not r.ok and r.err.kind == "stopped" then not_started = not_started + 1 end
    end
    complain("cannot write the report ", write_error or tostring(close_error), "; the run stopped: ",
      tostring(results.succeeded), " revoked, ", tostring(#unrecorded), " outcomes not in the report (listed",
      " above), ", tostring(not_started), " not started")
    return EXIT.output
  end
  local failed = results.failed + #refused
  if total == 1 then
    if results.succeeded == 1 then say("revoked every token of user ", ids[1]) return EXIT.ok end
    local r = refused[1] or results[1]
    return r.err.kind == "invalid" and EXIT.usage or EXIT.failed
  end
  say(("revoked %d of %d users in %.1f s%s"):format(results.succeeded, total - results.duplicates,
    results.elapsed, failed > 0 and (", " .. failed .. " failed") or ""))
  return failed > 0 and EXIT.partial or EXIT.ok
end

---------------------------------------------------------------- main

local COMMANDS = {
  me = cmd_me, verify = cmd_verify, ["revoke-me"] = cmd_revoke_me,
  revoke = cmd_revoke, ["timeout get"] = cmd_timeout_get, ["timeout set"] = cmd_timeout_set,
}

-- A word named in an error only when it is plainly a command's name (it
-- may be a secret typed in the wrong place).
local function unknown_command(word)
  local list = "(me, verify, revoke-me, revoke, timeout)"
  if #word <= 20 and word:match("^[a-z][a-z-]*$") then return ("unknown command '%s' %s"):format(word, list) end
  return "the command is not one of " .. list
end

local function run(argv)
  local given, words = flags.parse(argv)
  if not given then return usage_error(words) end
  if given.version then say("genesys-tokens ", core._VERSION) return EXIT.ok end
  local command = words[1]
  if command == "timeout" and (words[2] == "get" or words[2] == "set") then command = "timeout " .. words[2] end
  if given.help then
    io.stdout:write(HELP[command and command:match("^%S+")] or HELP.main)
    return EXIT.ok
  end
  if not command then return usage_error("no command given (me, verify, revoke-me, revoke, timeout)") end
  if command == "timeout" then return usage_error("timeout needs get or set", "timeout") end
  local handler = COMMANDS[command]
  if not handler then return usage_error(unknown_command(command)) end
  local first_argument = command:find(" ") and 3 or 2
  if command ~= "revoke" and #words >= first_argument then
    return usage_error(command .. " takes no arguments", command:match("^%S+"))
  end

  local settings, source = flags.resolve(command, given, os.getenv)
  if not settings then return usage_error(source, command:match("^%S+")) end
  secrets = flags.secrets(settings)
  local opts, problem = flags.client_options(settings, source)
  if not opts then return usage_error(problem) end
  if opts.ca_file then
    local f, err = io.open(opts.ca_file, "rb")
    local readable = f and f:read(0)
    if f then f:close() end
    if not readable then
      return usage_error("cannot read the CA file: " .. tostring(err or (opts.ca_file .. ": empty, or not a file")))
    end
  end
  local made, c = pcall(tokens.new, opts)
  if not made then return usage_error(bare(c)) end
  local ran, code = pcall(handler, c, settings, words, source)
  c:close()
  if not ran then error(code, 0) end
  return code
end

-- The exit code for an error raised out of a command: a signal, misuse
-- of the library (a usage error), or a bug.
local function raised(e)
  if errors.interrupted(e) then
    local signo = signals.caught() or 2
    complain("interrupted by ", SIGNALS[signo] or ("signal " .. signo))
    return 128 + signo
  end
  if is_misuse(e) then return usage_error(bare(e)) end
  complain("internal error: ", bare(e))
  return EXIT.internal
end

--- Runs the command line `argv` (a list of strings) as a program: SIGINT,
-- SIGTERM and SIGHUP end it as Ctrl-C does (signals.catch). Returns
-- the exit code.
function cli.main(argv)
  local ran, code = pcall(function()
    signals.catch("genesys-tokens", GRACE)
    return run(argv or {})
  end)
  if ran then
    local flushed, err
    ran, flushed, err = pcall(io.stdout.flush, io.stdout)
    if ran and not flushed and code == EXIT.ok then
      complain("cannot write the output: ", tostring(err))
      code = EXIT.output
    elseif not ran then
      code = flushed
    end
  end
  if not ran then
    ran, code = pcall(raised, code)
    if not ran then code = errors.interrupted(code) and 128 + (signals.caught() or 2) or EXIT.internal end
  end
  return code
end

return cli
