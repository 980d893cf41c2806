-- Runs bin/genesys-tokens as an operator would, in a process of its own
-- against the fake, on one of two wires: "pipes" (stdin, stdout and
-- stderr are files) or "pty" (script(1) gives it a pseudo-terminal; its
-- output is the terminal's transcript, stdout and stderr together).
local nginx = require "spec.support.nginx"

local LUA = os.getenv("LUA") or "lua5.4"
local q = nginx.q

local M = {}
M.WIRES = { "pipes", "pty" }

--- A runner for the fake at `srv`, keeping its files in `dir`.
function M.new(srv, dir)
  local r = {}

  -- The shell command: the fake and the admin token in the environment
  -- unless `env` says otherwise (false removes a variable).
  function r.command(args, env)
    local vars = { GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_ACCESS_TOKEN = "tok-admin",
      LUA_PATH = package.path, LUA_CPATH = package.cpath }
    for k, v in pairs(env or {}) do vars[k] = v end
    local parts = { "env -u GENESYSCLOUD_REGION -u GENESYSCLOUD_OAUTHCLIENT_ID -u GENESYSCLOUD_OAUTHCLIENT_SECRET" }
    for k, v in pairs(vars) do
      if v == false then table.insert(parts, 2, "-u " .. k) else parts[#parts + 1] = k .. "=" .. q(v) end
    end
    parts[#parts + 1] = LUA .. " bin/genesys-tokens " .. args
    return table.concat(parts, " ")
  end

  local function transcript(path)
    local text = nginx.read_file(path) or ""
    return (text:gsub("\r\n", "\n"):gsub("^%^C", ""))
  end

  --- Runs it to the end; returns stdout, stderr (both the transcript on a
  -- pty), and the exit code. `stdin` (pipes only) is its input.
  function r.run(args, env, stdin, wire)
    local out, err = dir .. "/out", dir .. "/err"
    if wire == "pty" then
      assert(stdin == nil, "no standard input on a pty")
      local _, code = nginx.execute("script -qfec " .. q(r.command(args, env)) .. " /dev/null >" .. q(out)
        .. " 2>&1 </dev/null")
      local text = transcript(out)
      return text, text, code
    end
    local input = stdin and (dir .. "/in") or "/dev/null"
    if stdin then nginx.write_file(input, stdin) end
    local _, code = nginx.execute(r.command(args, env) .. " <" .. q(input) .. " >" .. q(out) .. " 2>" .. q(err))
    return nginx.read_file(out), nginx.read_file(err), code
  end

  --- Runs it, and `after` seconds later (a whole or decimal number) sends
  -- `signal` ("INT" or "TERM"); on a pty an INT is a real Ctrl-C typed at
  -- the terminal. Returns stdout, stderr, the exit code and the
  -- milliseconds from the signal to the exit.
  function r.signal(args, signal, after, wire, env)
    local files = {}
    for _, name in ipairs { "out", "err", "pid", "t0", "t1", "rc" } do
      files[name] = dir .. "/sig." .. name
      os.remove(files[name])
    end
    local inner = "echo $$ >" .. q(files.pid) .. "; exec " .. r.command(args, env)
    local send = signal == "INT" and wire == "pty" and "printf '\\003'"
      or ("kill -" .. signal .. " $(cat " .. q(files.pid) .. ")")
    -- The sender waits for the pid, then for `after`, signals, and stays
    -- until the command has ended (at most 20 s), so that on a pty the
    -- terminal's input does not close first.
    local sender = ("for i in $(seq 100); do [ -s %s ] && break; sleep 0.05; done; sleep %s;"
      .. " date +%%s%%N >%s; %s; for i in $(seq 200); do [ -f %s ] && break; sleep 0.1; done"):format(
      q(files.pid), tostring(after), q(files.t0), send, q(files.rc))
    local runner
    if wire == "pty" then
      runner = ("script -qfec %s /dev/null >%s 2>&1"):format(q("sh -c " .. q(inner)), q(files.out))
    else
      runner = ("sh -c %s >%s 2>%s <&-"):format(q(inner), q(files.out), q(files.err))
    end
    nginx.execute(("{ %s; } | { %s; echo $? >%s.tmp; date +%%s%%N >%s; mv %s.tmp %s; }"):format(
      sender, runner, q(files.rc), q(files.t1), q(files.rc), q(files.rc)))
    local code = tonumber(nginx.read_file(files.rc))
    local t0, t1 = tonumber(nginx.read_file(files.t0) or ""), tonumber(nginx.read_file(files.t1) or "")
    local ms = t0 and t1 and (t1 - t0) / 1e6 or math.huge
    if wire == "pty" then
      local text = transcript(files.out)
      return text, text, code, ms
    end
    return nginx.read_file(files.out) or "", nginx.read_file(files.err) or "", code, ms
  end

  --- Writes an ids file of these lines (joined by `eol`, "\n" by default,
  -- and ended by one) after `prefix` (e.g. a BOM); returns its path.
  function r.ids_file(name, lines, eol, prefix)
    local path = dir .. "/" .. name
    eol = eol or "\n"
    nginx.write_file(path, (prefix or "") .. table.concat(lines, eol) .. eol)
    return path
  end

  return r
end

return M
