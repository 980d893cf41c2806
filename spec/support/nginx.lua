-- Running nginx for the specs: free loopback ports, a temp prefix dir,
-- start with a rendered config, wait until it answers, stop by pid; plus
-- the small process and HTTP helpers that needs. Used by the fake Genesys
-- Cloud (spec/support/fake.lua) and by the nginx that hosts the OpenResty
-- specs and the gate example. Lua 5.1-5.4 with luasocket.
--
-- Only 127.0.0.1 is ever used. Every wait below is bounded.
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"

local M = {}

M.NGINX = "/usr/sbin/nginx"
M.MODULES_DIR = "/usr/lib/nginx/modules"
local START_ATTEMPTS = 5   -- fresh ports each time, in case one got taken
local READY_POLLS = 100    -- x POLL_SLEEP: how long nginx may take to answer
local POLL_SLEEP = 0.05
local TERM_POLLS = 100     -- x POLL_SLEEP: grace time after SIGTERM
local HTTP_TIMEOUT = 10    -- seconds per request, unless told otherwise

--- A shell-quoted string.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local q = M.q

--- os.execute as (ok, exit code) on 5.1 (a wait status) and 5.2+.
function M.execute(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0, math.floor(a / 256) end
  return a == true, c
end
local run = M.execute

function M.capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end
local capture = M.capture

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
local read_file = M.read_file

function M.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  f:close()
end

--- The absolute directory of the Lua file calling this (level 2).
function M.dir_of_caller()
  local src = debug.getinfo(2, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    dir = capture("pwd"):gsub("%s+$", "") .. "/" .. dir
  end
  return (dir:gsub("/%./", "/"):gsub("/%.$", ""))
end

--- A new temp dir named genesys-<name>.XXXXXX, with a tmp/ inside for
--- nginx's temp paths.
function M.tempdir(name)
  local dir = capture(("mktemp -d \"${TMPDIR:-/tmp}/genesys-%s.XXXXXX\""):format(name)):gsub("%s+$", "")
  assert(dir:match("/genesys%-" .. name .. "%.[%w]+$"), "mktemp failed")
  assert(run("mkdir -p " .. q(dir .. "/tmp")))
  return dir
end

--- Removes a dir made by tempdir (and nothing else).
function M.remove_tempdir(dir)
  if dir and dir:match("/genesys%-[%w_]+%.[%w]+$") then run("rm -rf " .. q(dir)) end
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

--- n distinct free loopback ports.
function M.free_ports(n)
  local ports, seen = {}, {}
  for _ = 1, 10 * n do -- the kernel rarely repeats itself
    local p = free_port()
    if not seen[p] then
      seen[p] = true
      ports[#ports + 1] = p
    end
    if #ports == n then return ports end
  end
  error("could not find " .. n .. " free ports")
end

-- True while the process exists and is not a zombie (an exited nginx stays
-- a zombie until init reaps it).
local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat then return stat:match("^%d+ %b() (%a)") ~= "Z" end
  if read_file("/proc/self/stat") then return false end -- Linux: it is gone
  return run("kill -0 " .. pid .. " 2>/dev/null")
end

local function wait_gone(pid, polls)
  for _ = 1, polls do
    if not alive(pid) then return true end
    socket.sleep(POLL_SLEEP)
  end
  return not alive(pid)
end

--- Sends every request of `requests` (raw request heads, each ending the
--- connection: "Connection: close") at once, on a connection each, and
--- reads the answers as they come. Returns the answers (raw text, or nil
--- when unfinished) in order, and the wall time from the first send to the
--- last answer. Bounded by `limit` seconds.
function M.burst(port, requests, limit)
  local conns = {}
  local t0 = socket.gettime()
  for i, head in ipairs(requests) do
    local c = assert(socket.tcp())
    c:settimeout(5)
    assert(c:connect("127.0.0.1", port))
    assert(c:send(head))
    c:settimeout(0)
    conns[i] = { sock = c, parts = {} }
  end
  local by_sock = {}
  for _, c in ipairs(conns) do by_sock[c.sock] = c end
  local open, deadline, wall = #conns, t0 + limit, 0
  while open > 0 and socket.gettime() < deadline do
    local socks = {}
    for _, c in ipairs(conns) do if not c.done then socks[#socks + 1] = c.sock end end
    for _, s in ipairs((socket.select(socks, nil, 0.5))) do
      local c = by_sock[s]
      local data, err, partial = s:receive(65536)
      local got = data or partial
      if got and #got > 0 then c.parts[#c.parts + 1] = got end
      if err == "closed" then
        c.done, open = true, open - 1
        wall = math.max(wall, socket.gettime() - t0)
      end
    end
  end
  local answers = {}
  for i, c in ipairs(conns) do
    c.sock:close()
    answers[i] = c.done and table.concat(c.parts) or nil
  end
  return answers, wall
end

--- Stops nginx: SIGTERM (fast shutdown, master takes its workers down), a
--- bounded wait, then SIGKILL for the master and the workers it had.
function M.stop(pid)
  local children = {}
  for c in capture("pgrep -P " .. pid .. " 2>/dev/null"):gmatch("%d+") do
    children[#children + 1] = c
  end
  run("kill -TERM " .. pid .. " 2>/dev/null")
  if not wait_gone(pid, TERM_POLLS) then
    run("kill -KILL " .. pid .. " 2>/dev/null")
    wait_gone(pid, 40)
  end
  for _, c in ipairs(children) do
    if alive(c) then
      run("kill -KILL " .. c .. " 2>/dev/null")
      wait_gone(c, 40)
    end
  end
end

--- One HTTP request with a bounded timeout: status, body, headers, or nil
--- and an error. `headers` adds to the request's.
function M.request(url, method, body, timeout, headers)
  local out = {}
  local old = http.TIMEOUT
  http.TIMEOUT = timeout or HTTP_TIMEOUT
  local h = {}
  for k, v in pairs(headers or {}) do h[k:lower()] = v end
  if body then
    h["content-type"] = h["content-type"] or "application/json"
    h["content-length"] = #body
  end
  local ok, r, status, response_headers = pcall(http.request, {
    url = url,
    method = method,
    headers = h,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(out),
    redirect = false,
  })
  http.TIMEOUT = old
  if not ok then return nil, r end
  if not r then return nil, status end
  return status, table.concat(out), response_headers
end

--- `text` with every `old` replaced by `new` (plain text); `old` must be
--- there, so that a config that changed fails loudly instead of running
--- half substituted. `what` names the text in that error.
function M.replace_all(text, old, new, what)
  local at = text:find(old, 1, true)
  assert(at, (what or "the config") .. " no longer contains: " .. old)
  local out, from = {}, 1
  while at do
    out[#out + 1] = text:sub(from, at - 1) .. new
    from = at + #old
    at = text:find(old, from, true)
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

--- The *_temp_path lines that keep nginx's temp files in dir/tmp.
function M.temp_paths(dir)
  local lines = {}
  for _, kind in ipairs { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" } do
    lines[#lines + 1] = ("    %s_temp_path %s/tmp/%s;\n"):format(kind, dir, kind)
  end
  return table.concat(lines)
end

--- `user root;` when running as root (nginx would otherwise drop its worker
--- to nobody, who cannot use the 0700 temp dir); nothing otherwise.
function M.user_line()
  local id = tonumber((capture("id -u 2>/dev/null"):match("%d+")))
  return id == 0 and "user root;" or ""
end

local function spawn(bin, dir, env)
  local prefix = ""
  for k, v in pairs(env or {}) do prefix = prefix .. k .. "=" .. q(v) .. " " end
  local cmd = prefix .. q(bin) .. " -p " .. q(dir .. "/") .. " -c " .. q(dir .. "/nginx.conf")
    .. " -g " .. q("daemon off; master_process on;")
    .. " >" .. q(dir .. "/nginx.out") .. " 2>&1 </dev/null & echo $!"
  return tonumber((capture(cmd):match("%d+")))
end

--- Starts nginx in `dir`: `render(ports)` returns the config text for
--- `nports` fresh ports; nginx is ready when GET ready_url(ports) answers
--- as `ready(status, body)` says. Returns pid, ports; raises with nginx's
--- log if it never gets ready. `env` is set for the nginx process.
function M.start(o)
  local log = ""
  for _ = 1, START_ATTEMPTS do
    local ports = M.free_ports(o.nports)
    M.write_file(o.dir .. "/nginx.conf", o.render(ports))
    local pid = spawn(o.nginx or M.NGINX, o.dir, o.env)
    if not pid then error("could not spawn nginx") end
    local url = o.ready_url(ports)
    for _ = 1, READY_POLLS do
      if not alive(pid) then break end
      local status, body = M.request(url, "GET", nil, 1)
      if status and o.ready(status, body) then return pid, ports end
      socket.sleep(POLL_SLEEP)
    end
    log = (read_file(o.dir .. "/nginx.out") or "") .. (read_file(o.dir .. "/error.log") or "")
    M.stop(pid)
    -- Another process may have taken a port between our probe and nginx's
    -- bind: try again with new ones. Anything else is a real failure.
    if not log:find("Address already in use", 1, true) then break end
  end
  io.stderr:write("nginx failed to start; its log:\n", log, "\n")
  error("nginx failed to start:\n" .. log)
end

--- Calls `stop()` when the Lua state closes without it having been called
--- (a safety net: busted exits with os.exit(code, true)). Keep the result
--- referenced for as long as the server runs.
function M.guard(stop)
  if newproxy then -- Lua 5.1 / LuaJIT: only userdata have __gc
    local g = newproxy(true)
    getmetatable(g).__gc = stop
    return g
  end
  return setmetatable({}, { __gc = stop })
end

return M
