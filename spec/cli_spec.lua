-- bin/genesys-tokens driven end to end, as an operator would: separate
-- processes against the fake, exit codes, progress on a pseudo-terminal
-- (script(1)), the report, resume, and Ctrl-C.
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"
local json = require "genesys.tokens.json"

local cli = require "spec.support.cli"

local q = nginx.q

describe("genesys-tokens", function()
  local srv, dir, runner

  lazy_setup(function()
    srv = fake.start()
    dir = nginx.tempdir("cli")
    runner = cli.new(srv, dir)
  end)
  lazy_teardown(function()
    fake.stop()
    nginx.remove_tempdir(dir)
  end)
  before_each(function() fake.reset() end)

  local function command(args, env) return runner.command(args, env) end
  -- Runs it on pipes; returns stdout, stderr, exit code.
  local function run(args, env, stdin) return runner.run(args, env, stdin) end

  local function write_ids(name, lines)
    local path = dir .. "/" .. name
    nginx.write_file(path, table.concat(lines, "\n") .. "\n")
    return path
  end

  local function report(path)
    local entries = {}
    for line in (nginx.read_file(path) or ""):gmatch("[^\n]+") do entries[#entries + 1] = assert(json.decode_object(line)) end
    return entries
  end

  describe("usage", function()
    it("prints help for the command and each subcommand, exit 0", function()
      local out, _, code = run("--help")
      assert.equal(0, code)
      assert.matches("usage: genesys%-tokens %[options%] COMMAND", out)
      assert.matches("genesys.tokens.gate (examples/nginx-gate/README.md)", out, 1, true) -- the edge's tool
      for _, c in ipairs { "me", "verify", "revoke-me", "revoke", "timeout" } do
        out, _, code = run(c .. " --help")
        assert.equal(0, code, c)
        assert.matches("usage: genesys%-tokens " .. c:gsub("%-", "%%-"), out)
      end
      out = run("--version")
      assert.matches("^genesys%-tokens %d+%.%d+%.%d+\n$", out)
    end)

    it("exits 2 for usage errors, saying what is wrong", function()
      for args, pattern in pairs {
        [""] = "no command given", ["frobnicate"] = "unknown command 'frobnicate'", ["me --frob"] = "unknown option %-%-frob",
        ["me --region"] = "%-%-region needs a value", ["revoke"] = "revoke needs user ids",
        ["timeout"] = "timeout needs get or set", ["timeout set"] = "needs %-%-seconds N",
        ["timeout set --seconds x"] = "needs %-%-seconds N", ["timeout set --seconds 600 --enable --disable"] = "together",
        ["revoke u --concurrency 0"] = "concurrency must be", ["me extra"] = "me takes no arguments",
        ["--region mars me"] = "unknown region 'mars'", ["revoke --file /nonexistent/ids"] = "cannot read",
        ["revoke me"] = "not revoked: me: .*another route", ["revoke .."] = "relative path segment",
      } do
        local _, err, code = run(args)
        assert.equal(2, code, args)
        assert.matches(pattern, err, nil, args)
      end
    end)
  end)

  describe("Ctrl-C", function()
    -- Sends SIGINT once the command waits; returns its exit code, stderr
    -- and the milliseconds from the signal to the exit.
    local function interrupted(args)
      local ms, errf = dir .. "/sig.ms", dir .. "/sig.err"
      local _, code = nginx.execute("(" .. command(args) .. " >/dev/null 2>" .. q(errf) .. " </dev/null & pid=$!;"
        .. " sleep 0.5; t0=$(date +%s%N); kill -INT $pid; wait $pid; rc=$?;"
        .. " echo $(( ($(date +%s%N) - t0) / 1000000 )) >" .. q(ms) .. "; exit $rc)")
      return code, nginx.read_file(errf), tonumber(nginx.read_file(ms))
    end

    it("during a single call (me, verify, timeout get) exits 130 at once, without a traceback", function()
      for _, args in ipairs { "me", "verify", "timeout get" } do
        fake.fault { kind = "delay", seconds = 20 }
        local code, err, ms = interrupted(args)
        assert.equal(130, code, args .. ": " .. err)
        assert.equal("genesys-tokens: interrupted by SIGINT\n", err)
        assert.is_true(ms < 500, args .. ": exited " .. ms .. " ms after SIGINT")
        fake.reset()
      end
    end)
  end)

  describe("single calls", function()
    it("me shows the token readably, and --json as the API sent it", function()
      local out, _, code = run("me")
      assert.equal(0, code)
      assert.matches("Organization:%s+Acme Corp", out)
      assert.matches("OAuth client:%s+Acme Admin Tool", out)
      assert.matches("Scopes:%s+admin, oauth:token:delete", out)
      out, _, code = run("me --json")
      assert.equal(0, code)
      local info = assert(json.decode_object(out))
      assert.equal("Acme Admin Tool", info.OAuthClient.name)
      assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", fake.log()[1].request_uri)
    end)

    it("verify exits 0 for a valid token and 1 for an invalid one; revoke-me logs out", function()
      local out, _, code = run("verify", { GENESYSCLOUD_ACCESS_TOKEN = "tok-bob-1" })
      assert.equal(0, code)
      assert.equal("valid\n", out)
      out, _, code = run("revoke-me", { GENESYSCLOUD_ACCESS_TOKEN = "tok-bob-1" })
      assert.equal(0, code)
      assert.equal("revoked this token\n", out)
      out, _, code = run("verify", { GENESYSCLOUD_ACCESS_TOKEN = "tok-bob-1" })
      assert.equal(1, code)
      assert.equal("invalid\n", out)
    end)

    it("an API error exits 1 with the error on stderr, never the token or secret", function()
      local _, err, code = run("me --token tok-sekrit-value")
      assert.equal(1, code)
      assert.matches("^genesys%-tokens: http 401 bad%.credentials", err)
      assert.not_matches("sekrit", err)
      _, err, code = run("me --client-id cc-admin-id --client-secret wrong-sekrit", { GENESYSCLOUD_ACCESS_TOKEN = false })
      assert.equal(1, code)
      assert.matches("auth 401 invalid_client", err)
      assert.not_matches("sekrit", err)
    end)

    it("logs in with --client-id and --client-secret", function()
      local out, _, code = run("me --client-id cc-admin-id --client-secret cc-admin-secret",
        { GENESYSCLOUD_ACCESS_TOKEN = false })
      assert.equal(0, code)
      assert.matches("Acme Admin Tool", out)
      assert.equal("/oauth/token", fake.log()[1].request_uri)
    end)

    it("timeout get and set", function()
      local out, _, code = run("timeout get")
      assert.equal(0, code)
      assert.matches("Idle token timeout: enabled, 900 s", out)
      out, _, code = run("timeout set --seconds 1200 --disable")
      assert.equal(0, code)
      assert.matches("disabled, 1200 s", out)
      out = run("timeout get --json")
      assert.equal(1200, json.decode_object(out).idleTokenTimeoutSeconds)
      local _, err
      _, err, code = run("timeout set --seconds 60")
      assert.equal(2, code, "outside 300..28800: a usage error, nothing sent")
      assert.matches("from 300 to 28800", err)
      fake.fault { kind = "status", status = 400, code = "bad.request" }
      _, err, code = run("timeout set --seconds 600")
      assert.equal(1, code)
      assert.matches("http 400 bad%.request", err)
    end)

    it("revoke USER_ID revokes one user, exit 0; an unknown one exits 1", function()
      local out, _, code = run("revoke " .. fake.seed.users.bob.id)
      assert.equal(0, code)
      assert.matches("revoked every token of user", out)
      assert.is_true(fake.state_token("tok-bob-2").revoked)
      local _, err
      _, err, code = run("revoke 00000000-0000-4000-8000-000000000000")
      assert.equal(1, code)
      assert.matches("not revoked: 00000000%-0000%-4000%-8000%-000000000000: http 404 not%.found", err)
    end)
  end)

  describe("bulk revocation", function()
    it("reads ids from a file (comments and blank lines skipped), writes a report, exit 0", function()
      local ids = fake.add_users { count = 25, prefix = "cli-" }
      local lines = { "# users of the incident", "" }
      for i, id in ipairs(ids) do lines[#lines + 1] = (i % 5 == 0) and ("  " .. id .. "  ") or id end
      local file, rep = write_ids("ids.txt", lines), dir .. "/report-1.jsonl"
      local out, err, code = run("revoke --file " .. q(file) .. " --report " .. q(rep) .. " --concurrency 4")
      assert.equal(0, code, err)
      assert.matches("revoked 25 of 25 users in", out)
      assert.matches("revoke: 25/25 %(100%%%)", err) -- the plain progress line, not a bar
      assert.not_matches("\r", err)
      local entries = report(rep)
      assert.equal(25, #entries)
      local seen = {}
      for _, e in ipairs(entries) do
        assert.is_true(e.ok)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT", e.time)
        seen[e.id] = true
      end
      for _, id in ipairs(ids) do assert.is_true(seen[id], id) end
    end)

    it("reads ids from standard input with --file -", function()
      local ids = fake.add_users { count = 3, prefix = "in-" }
      local _, _, code = run("revoke --file -", nil, table.concat(ids, "\n") .. "\n")
      assert.equal(0, code)
      for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id]) end
    end)

    it("exits 3 when some fail, listing them and reporting them", function()
      local ids = fake.add_users { count = 4, prefix = "pf-" }
      local file = write_ids("partial.txt", { ids[1], "me", ids[2], "00000000-0000-4000-8000-000000000000", ids[3], ids[4] })
      local rep = dir .. "/report-partial.jsonl"
      local out, err, code = run("revoke --file " .. q(file) .. " --report " .. q(rep))
      assert.equal(3, code)
      assert.matches("revoked 4 of 6 users", out)
      assert.matches("not revoked: me: invalid", err)
      assert.matches("not revoked: 00000000%-0000%-4000%-8000%-000000000000: http 404", err)
      local failed = {}
      for _, e in ipairs(report(rep)) do if not e.ok then failed[e.id] = e end end
      assert.equal("invalid", failed.me.kind)
      assert.equal(404, failed["00000000-0000-4000-8000-000000000000"].status)
      assert.equal("not.found", failed["00000000-0000-4000-8000-000000000000"].code)
    end)

    it("resumes from a report without repeating work", function()
      local ids = fake.add_users { count = 10, prefix = "rs-" }
      local rep = dir .. "/report-resume.jsonl"
      -- A previous run that did the first 6.
      local first = write_ids("first.txt", { ids[1], ids[2], ids[3], ids[4], ids[5], ids[6] })
      assert.equal(0, select(3, run("revoke --file " .. q(first) .. " --report " .. q(rep))))
      local all = write_ids("all.txt", ids)
      local _, err, code = run("revoke --file " .. q(all) .. " --resume " .. q(rep))
      assert.equal(0, code)
      assert.matches("resume: 6 already revoked %(6 in the report%), 4 to go", err)
      for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id], id) end
      assert.equal(10, #report(rep))
      _, err, code = run("revoke --file " .. q(all) .. " --resume " .. q(rep))
      assert.equal(0, code)
      assert.matches("10 already revoked", err)
    end)

    it("draws a progress bar with rate and ETA on a terminal", function()
      local ids = fake.add_users { count = 30, prefix = "tty-" }
      fake.configure { latency = 0.05 }
      local file = write_ids("tty.txt", ids)
      local transcript = dir .. "/tty.out"
      -- script(1) gives the command a pseudo-terminal for its output.
      local _, code = nginx.execute("script -qfec " .. q(command("revoke --file " .. q(file) .. " --concurrency 2"))
        .. " /dev/null > " .. q(transcript) .. " 2>&1 </dev/null")
      assert.equal(0, code)
      local text = nginx.read_file(transcript)
      assert.matches("\r%[#+%.*%] %d+/30 +%d+%% +[%d.]+/s ETA %d+:%d%d", text)
      assert.matches("%[" .. ("#"):rep(30) .. "%] 30/30 100%%", text)
      assert.matches("revoked 30 of 30 users", text)
    end)

    it("on Ctrl-C stops within 0.5 s, keeps the report, exits 130; resume completes the rest", function()
      local ids = fake.add_users { count = 60, prefix = "int-" }
      fake.configure { latency = 0.2 }
      local file, rep = write_ids("int.txt", ids), dir .. "/report-int.jsonl"
      -- The time from the signal to the exit, measured by the shell.
      local _, code = nginx.execute("(" .. command("revoke --file " .. q(file) .. " --report " .. q(rep)
        .. " --concurrency 4") .. " >" .. q(dir .. "/int.out") .. " 2>" .. q(dir .. "/int.err")
        .. " </dev/null & pid=$!; sleep 1; t0=$(date +%s%N); kill -INT $pid; wait $pid; rc=$?;"
        .. " echo $(( ($(date +%s%N) - t0) / 1000000 )) >" .. q(dir .. "/int.ms") .. "; exit $rc)")
      assert.equal(130, code)
      local ms = tonumber(nginx.read_file(dir .. "/int.ms"))
      assert.is_true(ms < 500, "exited " .. tostring(ms) .. " ms after SIGINT")
      assert.matches("interrupted by SIGINT: requests in flight were abandoned and reported as not revoked; the report is in",
        nginx.read_file(dir .. "/int.err"))
      local entries = report(rep)
      local revoked = fake.revocations()
      local n, abandoned = 0, 0
      for _ in pairs(revoked) do n = n + 1 end
      assert.is_true(#entries > 0 and #entries < 60, "reported " .. #entries)
      for _, e in ipairs(entries) do
        if e.ok then
          assert.equal(1, revoked[e.id])
        else
          assert.equal("interrupted", e.kind)
          abandoned = abandoned + 1
        end
      end
      assert.equal(n, #entries - abandoned, "every finished revocation is in the report")
      assert.is_true(abandoned >= 1 and abandoned <= 4, "abandoned " .. abandoned)

      local _, err, resumed = run("revoke --file " .. q(file) .. " --resume " .. q(rep) .. " --concurrency 8")
      assert.equal(0, resumed, err)
      for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id], id) end
      local done = 0
      for _, e in ipairs(report(rep)) do if e.ok then done = done + 1 end end
      assert.equal(60, done)
      assert.equal(60 + abandoned, #report(rep))
    end)
  end)
end)
