-- genesys-tokens as an incident-response tool: on pipes and on a
-- pseudo-terminal, ids files as operators write them (a BOM, CRLF,
-- comments, invisible characters), a report that survives a cut line and
-- a full disk, each command's own flags and the environment, secrets in
-- every malformed flag, verify's exit codes, usage errors instead of
-- tracebacks, and SIGINT/SIGTERM in every wait.
local cli = require "spec.support.cli"
local fake = require "spec.support.fake"
local json = require "genesys.tokens.json"
local nginx = require "spec.support.nginx"

local q = nginx.q
local BOM = "\239\187\191"
local SECRET = "SeCrEt-4f9a2b7c1d"

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- The report's entries; a line that is not whole JSON fails the spec.
local function report_entries(path)
  local entries = {}
  for line in (nginx.read_file(path) or ""):gmatch("[^\n]+") do
    entries[#entries + 1] = assert(json.decode_object(line), "not a JSON line: " .. line)
  end
  return entries
end

local function no_traceback(text, what)
  assert.is_nil(text:find("stack traceback", 1, true), what .. ": " .. text)
  assert.is_nil(text:find("%.lua:%d+:"), what .. ": a Lua position in " .. text)
end

-- The DELETEs the fake received, per user id, raw as they came (after
-- the first `skip` requests of its log).
local function deletes(skip)
  local n = {}
  for i, e in ipairs(fake.log()) do
    if i > (skip or 0) and e.method == "DELETE" then
      local id = e.request_uri:match("^/api/v2/tokens/(.+)$")
      n[id] = (n[id] or 0) + 1
    end
  end
  return n
end

describe("genesys-tokens for operators", function()
  local srv, dir, r

  lazy_setup(function()
    srv = fake.start()
    dir = nginx.tempdir("cliop")
    r = cli.new(srv, dir)
  end)
  lazy_teardown(function()
    fake.stop()
    nginx.remove_tempdir(dir)
  end)
  before_each(function() fake.reset() end)

  for _, wire in ipairs(cli.WIRES) do
    describe("on " .. wire, function()
      local function run(args, env) return r.run(args, env, nil, wire) end

      describe("ids files", function()
        it("take a BOM, CRLF, blank lines and # comments (whole-line, after a space or a tab)", function()
          local ids = fake.add_users { count = 6, prefix = "bom-" .. wire .. "-" }
          local file = r.ids_file("bom.txt", {
            ids[1], "", "# the incident's users", "   # indented comment", ids[2] .. " # after a space",
            ids[3] .. "\t# after a tab", "  " .. ids[4] .. "  ", "\t", ids[5], ids[6] .. "#not-a-comment",
          }, "\r\n", BOM)
          local out, err, code = run("revoke --file " .. q(file))
          assert.equal(3, code, err) -- the last id, with its '#', does not exist
          assert.matches("revoked 5 of 6 users", out)
          local sent = deletes()
          for i = 1, 5 do assert.equal(1, fake.revocations()[ids[i]], ids[i]) end
          assert.equal(6, count(sent), "one DELETE per id, nothing else")
          for uri in pairs(sent) do
            assert.is_nil(uri:find("%EF%BB%BF", 1, true), "the BOM was sent: " .. uri)
            assert.is_nil(uri:find("%0D", 1, true), "a CR was sent: " .. uri)
            assert.is_nil(uri:find("%20", 1, true), "a comment was sent: " .. uri)
          end
          assert.equal(1, sent[ids[6] .. "%23not-a-comment"])
        end)

        it("refuse an id with an invisible or control character, shown escaped, never sent", function()
          local ids = fake.add_users { count = 2, prefix = "inv-" .. wire .. "-" }
          local bad = {
            { ids[1] .. "\226\128\139", ids[1] .. "\\u{200B}" },   -- a zero-width space
            { "\194\160" .. ids[2], "\\u{00A0}" .. ids[2] },       -- a no-break space
            { "ab\1cd", "ab\\x01cd" },                             -- a control character
            { "ab\255cd", "ab\\xFFcd" },                           -- not UTF-8
            { "ab\226\128\174cd", "ab\\u{202E}cd" },               -- right-to-left override
            { "two ids", "two ids" },                              -- one id a line
          }
          local lines = {}
          for _, b in ipairs(bad) do lines[#lines + 1] = b[1] end
          local file, rep = r.ids_file("invisible.txt", lines), dir .. "/inv-" .. wire .. ".jsonl"
          local _, err, code = run("revoke --file " .. q(file) .. " --report " .. q(rep))
          assert.equal(3, code, err)
          assert.equal(0, count(deletes()), "an invisible id was sent")
          for _, b in ipairs(bad) do
            assert.truthy(err:find('not revoked: "' .. b[2] .. '": user id contains', 1, true), b[2] .. " in " .. err)
          end
          local entries = report_entries(rep)
          assert.equal(#bad, #entries)
          for _, e in ipairs(entries) do
            assert.is_false(e.ok)
            assert.equal("invalid", e.kind)
          end
          -- One such id alone is a usage error, as any id that cannot be one.
          _, err, code = run("revoke " .. q(ids[1] .. "\226\128\139"))
          assert.equal(2, code, err)
        end)
      end)

      describe("the report", function()
        it("after a cut last line: resume writes on a line of its own, and a second resume repeats nothing", function()
          local ids = fake.add_users { count = 6, prefix = "cut-" .. wire .. "-" }
          local rep = dir .. "/cut-" .. wire .. ".jsonl"
          assert.equal(0, select(3, run("revoke " .. table.concat(ids, " ", 1, 3) .. " --report " .. q(rep))))
          -- A crash, or a full disk, cut the record of a fourth.
          local text = nginx.read_file(rep)
          nginx.write_file(rep, text .. '{"id":"' .. ids[4] .. '","ok":tr')
          local all = r.ids_file("cut-all.txt", ids)
          local seen = #fake.log()
          local _, err, code = run("revoke --file " .. q(all) .. " --resume " .. q(rep))
          assert.equal(0, code, err)
          assert.matches("resume: 3 already revoked %(3 in the report%), 3 to go", err)
          assert.same({ [ids[4]] = 1, [ids[5]] = 1, [ids[6]] = 1 }, deletes(seen))
          -- Every line but the cut one is whole.
          local lines = {}
          for line in nginx.read_file(rep):gmatch("[^\n]+") do lines[#lines + 1] = line end
          assert.equal(7, #lines)
          assert.equal('{"id":"' .. ids[4] .. '","ok":tr', lines[4])
          for i, line in ipairs(lines) do
            if i ~= 4 then assert.is_true(json.decode_object(line).ok, line) end
          end
          seen = #fake.log()
          _, err, code = run("revoke --file " .. q(all) .. " --resume " .. q(rep))
          assert.equal(0, code, err)
          assert.matches("6 already revoked", err)
          assert.same({}, deletes(seen))
        end)

        it("that cannot be written (/dev/full) stops the run, lists what finished, exits 5", function()
          local ids = fake.add_users { count = 20, prefix = "full-" .. wire .. "-" }
          fake.configure { latency = 0.1 }
          local file = r.ids_file("full.txt", ids)
          local _, err, code = run("revoke --file " .. q(file) .. " --report /dev/full --concurrency 3")
          assert.equal(5, code, err)
          assert.matches("cannot write the report /dev/full: [^\n]*No space left on device", err)
          no_traceback(err, "/dev/full")
          local revoked = fake.revocations()
          assert.is_true(count(revoked) >= 1 and count(revoked) <= 4, "sent after the failure: " .. count(revoked))
          -- Each revocation the report lacks is on stderr.
          local listed = 0
          for id in pairs(revoked) do
            if err:find("not in the report: revoked " .. id, 1, true) then listed = listed + 1 end
          end
          assert.equal(count(revoked), listed) -- the first too, whose record failed
          assert.matches("%d+ not started", err)
        end)
      end)

      describe("flags", function()
        it("each command takes only its own", function()
          for _, args in ipairs { "verify --json", "me --concurrency 9999", "revoke-me --report x",
            "timeout get --seconds 600", "timeout set --seconds 600 --json", "me --file ids.txt",
            "verify --quiet", "me --enable" } do
            local _, err, code = run(args)
            assert.equal(2, code, args)
            assert.matches("does not take %-%-", err, nil, args)
          end
          assert.equal(0, count(deletes()))
        end)

        it("combine with the environment: --client-id with the secret in GENESYSCLOUD_OAUTHCLIENT_SECRET", function()
          local out, err, code = run("me --client-id cc-admin-id",
            { GENESYSCLOUD_OAUTHCLIENT_SECRET = "cc-admin-secret", GENESYSCLOUD_ACCESS_TOKEN = "tok-bob-1" })
          assert.equal(0, code, err)
          assert.matches("Acme Admin Tool", out)
          assert.equal("/oauth/token", fake.log()[1].request_uri)
          -- And the other way round: the id in the environment, the secret a flag.
          fake.reset()
          out, err, code = run("me --client-secret cc-admin-secret", { GENESYSCLOUD_OAUTHCLIENT_ID = "cc-admin-id" })
          assert.equal(0, code, err)
          assert.equal("/oauth/token", fake.log()[1].request_uri)
          assert.is_nil(out:find("cc-admin-secret", 1, true))
          -- --token as a flag wins over an OAuth client in the environment.
          fake.reset()
          _, err, code = run("verify --token tok-bob-1", { GENESYSCLOUD_OAUTHCLIENT_ID = "cc-admin-id",
            GENESYSCLOUD_OAUTHCLIENT_SECRET = "cc-admin-secret", GENESYSCLOUD_ACCESS_TOKEN = false })
          assert.equal(0, code, err)
          assert.equal("HEAD", fake.log()[1].method)
        end)

        it("each from its environment variable: log level, concurrency, quiet, json, timeout", function()
          local _, err, code = run("me", { GENESYS_TOKENS_LOG_LEVEL = "debug" })
          assert.equal(0, code)
          assert.matches("genesys.tokens debug GET [^\n]*/api/v2/tokens/me", err)
          local out = run("me", { GENESYS_TOKENS_JSON = "1" })
          assert.equal("Acme Corp", json.decode_object(out:match("{.*}")).organization.name)
          _, err, code = run("revoke u", { GENESYS_TOKENS_CONCURRENCY = "0" })
          assert.equal(2, code)
          assert.matches("GENESYS_TOKENS_CONCURRENCY must be a whole number", err)
          _, err, code = run("revoke u", { GENESYS_TOKENS_QUIET = "perhaps" })
          assert.equal(2, code)
          assert.matches("GENESYS_TOKENS_QUIET must be 1 or 0", err)
          fake.fault { kind = "delay", seconds = 5 }
          _, err, code = run("me", { GENESYS_TOKENS_TIMEOUT = "0.3", GENESYS_TOKENS_LOG_LEVEL = "none" })
          assert.equal(1, code, err)
          assert.matches("timeout", err)
        end)

        it("--proxy and --allow-http: plain http to a remote host only when allowed", function()
          local proxy = srv.proxy_url:gsub("^http://", "http://puser:ppass@")
          local remote = "http://api.genesys.invalid"
          local _, err, code = run("me --base-url " .. remote .. " --proxy " .. proxy)
          assert.equal(2, code)
          assert.matches("refusing plain http:// to api.genesys.invalid", err)
          local out
          out, err, code = run("me --base-url " .. remote .. " --allow-http --proxy " .. proxy .. " --log-level trace")
          assert.equal(0, code, err)
          assert.matches("Acme Corp", out)
          assert.is_true(fake.log()[1].proxied)
          assert.is_nil((out .. err):find("ppass", 1, true), "the proxy's password was printed")
          assert.is_nil((out .. err):find("tok-admin", 1, true), "the token was printed")
          fake.reset()
          _, _, code = run("me --base-url " .. remote, { GENESYS_TOKENS_ALLOW_HTTP = "1", GENESYS_TOKENS_PROXY = proxy })
          assert.equal(0, code)
        end)

        it("--ca-file: the fake's CA is trusted, the system's are not", function()
          local out, err, code = run("me --base-url " .. srv.https_url .. " --ca-file " .. q(srv.ca_file))
          assert.equal(0, code, err)
          assert.matches("Acme Corp", out)
          _, err, code = run("me --base-url " .. srv.https_url .. " --ca-file /etc/ssl/certs/ca-certificates.crt")
          assert.equal(1, code)
          assert.matches("tls", err)
        end)

        it("--login-url: where the OAuth client logs in", function()
          local _, err, code = run("me --client-id cc-admin-id --client-secret cc-admin-secret --login-url "
            .. srv.http_url .. "/gw/login", { GENESYSCLOUD_ACCESS_TOKEN = false })
          assert.equal(0, code, err)
          assert.equal("/gw/login/oauth/token", fake.log()[1].request_uri)
          _, err, code = run("me --client-id cc-admin-id --client-secret cc-admin-secret --login-url http://127.0.0.1:1",
            { GENESYSCLOUD_ACCESS_TOKEN = false })
          assert.equal(1, code)
          assert.matches("network", err)
        end)
      end)

      describe("secrets", function()
        it("never appear in any output, whatever the malformed flag", function()
          local forms = {
            "-token=" .. SECRET .. " me", "--client_secret=" .. SECRET .. " me", "--Token=" .. SECRET .. " me",
            "--token" .. SECRET .. " me", "-token " .. SECRET .. " me", "--TOKEN " .. SECRET .. " me",
            "---token=" .. SECRET .. " me", "--client-secret" .. SECRET .. " me", "-client-secret=" .. SECRET .. " me",
            "--token=" .. SECRET .. " --token=" .. SECRET .. " me", "--token " .. SECRET .. " me extra",
            "--token=" .. SECRET .. " --client-id x me", "--json=" .. SECRET .. " me", SECRET .. " me",
            "me " .. SECRET, "-- --token=" .. SECRET .. " me", "--client-secret=" .. SECRET .. " me",
            "--token=" .. SECRET .. " frobnicate", "--frob=" .. SECRET .. " me", "--token= " .. SECRET .. " me",
            "--proxy=http://u:" .. SECRET .. "@127.0.0.1:1 verify --json",
            "--token " .. SECRET .. "\1 me",
          }
          for _, args in ipairs(forms) do
            local out, err, code = run(args)
            assert.equal(2, code, args .. ": " .. err)
            assert.is_nil((out .. err):find(SECRET, 1, true), "the secret was printed for " .. args .. ": " .. err)
            assert.is_nil((out .. err):find(SECRET:lower(), 1, true), args)
            no_traceback(err, args)
          end
          -- A valid secret with an API error, and at the trace log level.
          local out, err, code = run("me --log-level trace --token tok-" .. SECRET)
          assert.equal(1, code)
          assert.is_nil((out .. err):find(SECRET, 1, true), err)
        end)
      end)

      describe("verify", function()
        it("exits 0 valid, 1 invalid, 4 when it could not tell", function()
          local out, err, code = run("verify")
          assert.equal(0, code, err)
          assert.matches("valid", out)
          out, _, code = run("verify --token tok-nobody")
          assert.equal(1, code)
          assert.matches("invalid", out)
          fake.fault { kind = "status", status = 503, times = 10 }
          _, err, code = run("verify", { GENESYS_TOKENS_TIMEOUT = "2" })
          assert.equal(4, code)
          assert.matches("could not tell: http 503", err)
          _, err, code = run("verify --base-url http://127.0.0.1:1")
          assert.equal(4, code)
          assert.matches("could not tell: network", err)
          fake.reset()
          fake.fault { kind = "delay", seconds = 5 }
          _, err, code = run("verify --timeout 0.3")
          assert.equal(4, code)
          assert.matches("could not tell: timeout", err)
        end)
      end)

      describe("usage errors, never a traceback", function()
        it("exit 2 with one line on stderr", function()
          local file_dir = dir
          for args, pattern in pairs {
            ["timeout set --seconds 99999999999999999999"] = "whole number of seconds",
            ["timeout set --seconds -5"] = "whole number of seconds",
            ["timeout set --seconds 1e3"] = "whole number of seconds",
            ["revoke --file " .. q(file_dir)] = "cannot read the ids: .*Is a directory",
            ["revoke u --resume " .. q(file_dir)] = "cannot read the report: .*Is a directory",
            ["revoke u --report " .. q(file_dir)] = "cannot write the report: .*Is a directory",
            ["revoke -"] = "'%-' is not a user id",
            ["revoke u - v"] = "'%-' is not a user id",
            ["verify --json"] = "verify does not take %-%-json",
            ["me --concurrency 9999"] = "me does not take %-%-concurrency",
            ["revoke u --concurrency 9999"] = "concurrency must be",
            ["revoke u --concurrency 1e3"] = "concurrency must be",
            ["--timeout abc me"] = "%-%-timeout needs a number",
            ["--timeout 1e999 me"] = "timeout must be a number of seconds",
            ["--timeout -1 me"] = "timeout must be a number of seconds",
            ["--log-level loud me"] = "%-%-log%-level must be one of",
            ["--region eu-west-1 --base-url " .. srv.http_url .. " me"] = "not both",
            ["--token x --client-id y --client-secret z me"] = "not both",
            ["--client-id y me"] = "%-%-client%-id and %-%-client%-secret go together",
            ["me --json=yes"] = "%-%-json takes no value",
            ["me --token"] = "%-%-token needs a value",
            ["me --json --json"] = "given twice",
            ["--ca-file '' me"] = "cannot read the CA file",
            ["--ca-file /nonexistent/ca.pem me"] = "cannot read the CA file: /nonexistent/ca.pem: No such file",
            ["--ca-file " .. q(file_dir) .. " me"] = "cannot read the CA file: .*not a file",
            ["timeout set --seconds 100"] = "from 300 to 28800",
            ["timeout set --seconds 28801"] = "from 300 to 28800",
            ["revoke u --report -"] = "%-%-report needs a file",
            ["revoke --file ids --resume ids"] = "%-%-resume and %-%-file name the same file",
            ["--base-url 'http://x y' me"] = "space or a control character",
            ["timeout"] = "timeout needs get or set",
            ["timeout get extra"] = "takes no arguments",
            [""] = "no command given",
          } do
            local _, err, code = run(args)
            assert.equal(2, code, args .. ": " .. err)
            assert.matches(pattern, err, nil, args)
            no_traceback(err, args)
            if wire == "pipes" then
              assert.equal(1, select(2, err:gsub("\n", "")), "one line: " .. err)
            end
          end
          assert.equal(0, count(deletes()), "a usage error sent a request")
        end)
      end)

      describe("signals", function()
        local function assert_ended(out, err, code, ms, want, what)
          assert.equal(want, code, what .. ": " .. out .. err)
          assert.is_true(ms < 1000, ("%s: exited %.0f ms after the signal"):format(what, ms))
          no_traceback(out .. err, what)
          local name = want == 130 and "SIGINT" or "SIGTERM"
          assert.matches("genesys%-tokens: interrupted by " .. name, err, nil, what)
        end

        for _, sig in ipairs { { "INT", 130 }, { "TERM", 143 } } do
          it("SIG" .. sig[1] .. " during a 30 s Retry-After and during a stalled request: exit " .. sig[2],
            function()
              fake.fault { kind = "429", retry_after = 30 }
              local out, err, code, ms = r.signal("me", sig[1], 0.8, wire)
              assert_ended(out, err, code, ms, sig[2], "Retry-After")
              fake.reset()
              fake.fault { kind = "delay", seconds = 30 }
              out, err, code, ms = r.signal("verify", sig[1], 0.8, wire)
              assert_ended(out, err, code, ms, sig[2], "stalled")
            end)

          it("SIG" .. sig[1] .. " during a bulk run's 30 s wait for the rate-limit window: the report flushed, exit " .. sig[2],
            function()
              local ids = fake.add_users { count = 12, prefix = "sig" .. sig[1] .. wire .. "-" }
              fake.configure { rate_limit = { count = 4, window = 30, enforced = true } }
              local rep = dir .. "/sig-" .. sig[1] .. wire .. ".jsonl"
              local file = r.ids_file("sig.txt", ids)
              local out, err, code, ms = r.signal("revoke --file " .. q(file) .. " --report " .. q(rep)
                .. " --concurrency 2", sig[1], 1.5, wire)
              assert_ended(out, err, code, ms, sig[2], "bulk")
              local entries, revoked = report_entries(rep), fake.revocations()
              assert.is_true(count(revoked) >= 1, "nothing was revoked before the signal")
              local ok = 0
              for _, e in ipairs(entries) do
                if e.ok then
                  ok = ok + 1
                  assert.equal(1, revoked[e.id])
                end
              end
              assert.equal(count(revoked), ok, "a revocation is missing from the report")
              assert.matches("run again with %-%-resume", err)
            end)

          it("SIG" .. sig[1] .. " while bulk requests stall: abandoned ones reported, exit " .. sig[2], function()
            local ids = fake.add_users { count = 6, prefix = "stall" .. sig[1] .. wire .. "-" }
            fake.fault { kind = "delay", seconds = 30, times = 10 }
            local rep = dir .. "/stall-" .. sig[1] .. wire .. ".jsonl"
            local out, err, code, ms = r.signal("revoke " .. table.concat(ids, " ") .. " --report " .. q(rep)
              .. " --concurrency 3", sig[1], 0.8, wire)
            assert_ended(out, err, code, ms, sig[2], "stalled bulk")
            local entries = report_entries(rep)
            assert.equal(3, #entries)
            for _, e in ipairs(entries) do
              assert.is_false(e.ok)
              assert.equal("interrupted", e.kind)
            end
          end)
        end

        if wire == "pty" then
          it("Ctrl-C while it waits for ids typed at the terminal: exit 130", function()
            local out, err, code, ms = r.signal("revoke --file -", "INT", 0.8, wire)
            assert_ended(out, err, code, ms, 130, "reading the terminal")
            assert.equal(0, count(deletes()))
          end)
        end
      end)
    end)
  end

  describe("on pipes only", function()
    it("ids on standard input: a BOM, CRLF and comments", function()
      local ids = fake.add_users { count = 3, prefix = "stdin-bom-" }
      local _, err, code = r.run("revoke --file -", nil,
        BOM .. ids[1] .. "\r\n# comment\r\n" .. ids[2] .. " # two\r\n\r\n" .. ids[3] .. "\r\n")
      assert.equal(0, code, err)
      assert.same({ [ids[1]] = 1, [ids[2]] = 1, [ids[3]] = 1 }, deletes())
    end)

    it("a signal while a big report is read for --resume: exit 130, nothing sent", function()
      local ids = fake.add_users { count = 3, prefix = "bigres-" }
      local rep = dir .. "/big.jsonl"
      local f = assert(io.open(rep, "wb"))
      for i = 1, 300000 do f:write(('{"id":"old-%08d","ok":true,"time":"2026-12-02T00:00:00Z"}\n'):format(i)) end
      f:close()
      -- Three times: a signal that lands inside cjson's decoding (its own
      -- pcall) was swallowed there, one outside it was not.
      for _, after in ipairs { 0.3, 0.45, 0.6 } do
        local out, err, code = r.signal("revoke " .. table.concat(ids, " ") .. " --resume " .. q(rep), "INT", after,
          "pipes")
        assert.equal(130, code, out .. err)
        assert.matches("interrupted by SIGINT", err)
        assert.same({}, deletes())
      end
    end)

    it("a signal while the report or stderr blocks (a FIFO nobody reads): ends within the grace time", function()
      local ids = fake.add_users { count = 3000, prefix = "fifo-" } -- more than a pipe's 64 KiB of lines
      fake.configure { rate_limit = { count = 100000, window = 60 } }
      local file = r.ids_file("fifo.txt", ids)
      for _, target in ipairs { "report", "stderr" } do
        local fifo, pid, rc = dir .. "/" .. target .. ".fifo", dir .. "/fifo.pid", dir .. "/fifo.rc"
        os.remove(pid)
        os.remove(rc)
        assert(nginx.execute("rm -f " .. q(fifo) .. " && mkfifo " .. q(fifo)))
        -- A reader that opens the FIFO and never reads: writes block once its buffer is full.
        nginx.execute("(exec 3<" .. q(fifo) .. "; sleep 8) >/dev/null 2>&1 &")
        local args = "--log-level debug revoke --file " .. q(file) .. " --concurrency 16"
          .. (target == "report" and " --report " .. q(fifo) .. " 2>/dev/null" or " 2>" .. q(fifo))
        nginx.execute("sh -c " .. q("echo $$ >" .. q(pid) .. "; exec " .. r.command(args)) .. " >/dev/null </dev/null &"
          .. " for i in $(seq 100); do [ -s " .. q(pid) .. " ] && break; sleep 0.05; done; sleep 2;"
          .. " t0=$(date +%s%N); kill -INT $(cat " .. q(pid) .. ");"
          .. " for i in $(seq 300); do kill -0 $(cat " .. q(pid) .. ") 2>/dev/null || break; sleep 0.01; done;"
          .. " echo $(( ($(date +%s%N) - t0) / 1000000 )) >" .. q(rc))
        local ms = tonumber(nginx.read_file(rc))
        assert.is_true(ms < 1000, ("%s: exited %.0f ms after the signal"):format(target, ms))
      end
    end)

    it("repeated ids are revoked once, and the progress reaches its end", function()
      local ids = fake.add_users { count = 3, prefix = "rep-" }
      local out, err, code = r.run("revoke " .. ids[1] .. " " .. ids[1] .. " " .. ids[2] .. " " .. ids[3] .. " " .. ids[2])
      assert.equal(0, code, err)
      assert.matches("revoke: 2 repeated ids, each revoked once", err)
      assert.matches("revoke: 3/3 %(100%%%)", err)
      assert.matches("revoked 3 of 3 users", out)
      assert.same({ [ids[1]] = 1, [ids[2]] = 1, [ids[3]] = 1 }, deletes())
    end)

    it("standard output that cannot be written: exit 5, one line", function()
      local _, code = nginx.execute(r.command("me") .. " >/dev/full 2>" .. q(dir .. "/full.err"))
      local err = nginx.read_file(dir .. "/full.err")
      assert.equal(5, code, err)
      assert.matches("^genesys%-tokens: cannot write the output: [^\n]*No space left on device\n$", err)
    end)

    it("a signal while the ids are read from a pipe that stays open: exit 143", function()
      local pid, rc = dir .. "/pipe.pid", dir .. "/pipe.rc"
      os.remove(rc)
      nginx.execute("{ sleep 5; } | { sh -c " .. q("echo $$ >" .. q(pid) .. "; exec " .. r.command("revoke --file -"))
        .. " >/dev/null 2>" .. q(dir .. "/pipe.err") .. "; echo $? >" .. q(rc) .. "; } &"
        .. " for i in $(seq 100); do [ -s " .. q(pid) .. " ] && break; sleep 0.05; done; sleep 0.5;"
        .. " kill -TERM $(cat " .. q(pid) .. "); for i in $(seq 20); do [ -s " .. q(rc) .. " ] && break; sleep 0.05; done")
      local err = nginx.read_file(dir .. "/pipe.err") or ""
      assert.equal("143", (nginx.read_file(rc) or ""):match("%d+"), err)
      assert.equal("genesys-tokens: interrupted by SIGTERM\n", err)
    end)
  end)
end)
