-- Proves the hostile server (spec/support/fake/hostile.lua) puts on the
-- wire what each mode says, read with a raw LuaSocket client (and over TLS
-- with openssl s_client), so that spec/hostile_spec.lua can trust it.
-- Run from the repo root:
--   lua5.4 /usr/bin/busted spec/hostile_server_spec.lua
package.path = "./?.lua;" .. package.path

local fake = require "spec.support.fake"
local socket = require "socket"
local cjson = require "cjson"

local ME = "/api/v2/tokens/me"
local TIMEOUT = "/api/v2/tokens/timeout"
local LOGIN = "/oauth/token"
local BEARER = "Bearer hostile-server-spec-token"

local srv, fixed
local serial = 0

local function nonce()
  serial = serial + 1
  return "srv-" .. serial
end

-- Sends a request and reads the answer as it arrives: { raw, reads (the
-- pieces each read returned), closed, elapsed }. Reads until the server
-- closes, or `quiet` seconds (0.3) without a byte, or `limit` seconds (5).
local function exchange(method, path, o)
  o = o or {}
  local c = assert(socket.tcp())
  c:settimeout(2)
  assert(c:connect("127.0.0.1", srv.port))
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1:" .. srv.port }
  if o.auth ~= false then lines[#lines + 1] = "Authorization: " .. (o.auth or BEARER) end
  for _, h in ipairs(o.headers or {}) do lines[#lines + 1] = h end
  if o.body then
    lines[#lines + 1] = "Content-Type: " .. (o.content_type or "application/json")
    lines[#lines + 1] = "Content-Length: " .. #o.body
  end
  local request = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (o.body or "")
  assert(c:send(request))
  c:settimeout(0)
  local reads, closed = {}, false
  local started, last = socket.gettime(), socket.gettime()
  local quiet, limit = o.quiet or 0.3, o.limit or 5
  while true do
    local now = socket.gettime()
    if now - started > limit or now - last > quiet then break end
    socket.select({ c }, nil, 0.05)
    local data, err, partial = c:receive(1024 * 1024)
    data = data or partial
    if data and data ~= "" then
      reads[#reads + 1] = data
      last = socket.gettime()
    end
    if err == "closed" then
      closed = true
      break
    end
  end
  c:close()
  return { raw = table.concat(reads), reads = reads, closed = closed, elapsed = socket.gettime() - started,
    request = request }
end

local function url(mode, n, rest) return "/hostile/" .. mode .. "/" .. n .. rest end

-- status line, header lines (a list), the rest after the blank line; eol
-- is the line end in use ("\r\n" unless told).
local function split(raw, eol)
  eol = eol or "\r\n"
  local head_end = raw:find(eol .. eol, 1, true)
  assert(head_end, "no end of the header block in: " .. raw:sub(1, 200))
  local head, rest = raw:sub(1, head_end - 1), raw:sub(head_end + 2 * #eol)
  local lines = {}
  for line in (head .. eol):gmatch("(.-)" .. eol) do lines[#lines + 1] = line end
  local status_line = table.remove(lines, 1)
  return status_line, lines, rest
end

-- The value of the first header `name` (any case), and how many there are.
local function header(lines, name)
  local value, n = nil, 0
  for _, l in ipairs(lines) do
    local k, v = l:match("^([^:]+):%s*(.-)%s*$")
    if k and k:lower() == name:lower() then
      n = n + 1
      value = value or v
    end
  end
  return value, n
end

local function values(lines, name)
  local out = {}
  for _, l in ipairs(lines) do
    local k, v = l:match("^([^:]+):%s*(.-)%s*$")
    if k and k:lower() == name:lower() then out[#out + 1] = v end
  end
  return out
end

-- The body of a chunked stream and what it saw: sizes as written,
-- extensions, trailer lines.
local function unchunk(s)
  local body, sizes, exts, i = {}, {}, {}, 1
  while true do
    local line_end = assert(s:find("\r\n", i, true), "no chunk-size line end")
    local line = s:sub(i, line_end - 1)
    local hex, ext = line:match("^(%x+)(.*)$")
    assert(hex, "bad chunk-size line " .. line)
    sizes[#sizes + 1] = hex
    if ext ~= "" then exts[#exts + 1] = ext end
    local size = tonumber(hex, 16)
    i = line_end + 2
    if size == 0 then break end
    body[#body + 1] = s:sub(i, i + size - 1)
    assert.equal("\r\n", s:sub(i + size, i + size + 1))
    i = i + size + 2
  end
  local trailers = {}
  while true do
    local line_end = assert(s:find("\r\n", i, true))
    local line = s:sub(i, line_end - 1)
    i = line_end + 2
    if line == "" then break end
    trailers[#trailers + 1] = line
  end
  return table.concat(body), sizes, exts, trailers, s:sub(i)
end

-- A plain 200 and its parts, for the modes that must carry the same answer.
local function ok_answer(r, body)
  local status_line, lines, rest = split(r.raw)
  assert.equal("HTTP/1.1 200 OK", status_line)
  assert.equal(body or fixed.token_info, rest)
  assert.equal(tostring(#rest), header(lines, "Content-Length"))
  assert.is_true(r.closed, "the connection ends after the answer")
  return lines
end

describe("hostile server", function()
  lazy_setup(function()
    srv = fake.start()
    fixed = fake.hostile()
  end)
  lazy_teardown(function() fake.stop() end)

  it("lists its modes and answers; an unknown mode is a 404", function()
    assert.is_true(#fixed.modes >= 36)
    local info = cjson.decode(fixed.token_info)
    assert.equal(cjson.null, info.clonedUser, "TokenInfo keeps a JSON null field")
    assert.is_string(info.organization.name)
    assert.equal("Minutes", cjson.decode(fixed.idle_timeout).inactivityTimeoutUnit)
    local r = exchange("GET", url("no_such_mode", nonce(), ME))
    assert.matches("^HTTP/1.1 404", r.raw)
  end)

  describe("routes (plain)", function()
    it("GET me: TokenInfo; the request is kept per nonce", function()
      local n = nonce()
      local r = exchange("GET", url("plain", n, ME .. "?preserveIdleTTL=true"))
      local lines = ok_answer(r)
      assert.equal(1, #r.reads, "one write")
      assert.equal("application/json", header(lines, "Content-Type"))
      local rec = fake.hostile(n)
      assert.equal(1, rec.count)
      local q = rec.requests[1]
      assert.same({ "GET", ME, "preserveIdleTTL=true", BEARER, "plain", 200 },
        { q.method, q.path, q.query, q.authorization, q.mode, q.status })
      assert.equal(header(lines, "ININ-Correlation-Id"), q.correlation_id)
      assert.equal(r.request, q.raw_header)
    end)

    it("HEAD me: the GET's headers, Content-Length too, and no body", function()
      local r = exchange("HEAD", url("plain", nonce(), ME))
      local status_line, lines, rest = split(r.raw)
      assert.equal("HTTP/1.1 200 OK", status_line)
      assert.equal(tostring(#fixed.token_info), header(lines, "Content-Length"))
      assert.equal("", rest)
    end)

    it("DELETE me and DELETE {userId}: 204 without framing headers", function()
      for _, path in ipairs { ME, "/api/v2/tokens/some-user" } do
        local status_line, lines, rest = split(exchange("DELETE", url("plain", nonce(), path)).raw)
        assert.equal("HTTP/1.1 204 No Content", status_line)
        assert.is_nil(header(lines, "Content-Length"))
        assert.is_nil(header(lines, "Transfer-Encoding"))
        assert.equal("", rest)
      end
    end)

    it("GET timeout, and PUT timeout answers with the body it got", function()
      ok_answer(exchange("GET", url("plain", nonce(), TIMEOUT)), fixed.idle_timeout)
      local n, body = nonce(), '{"idleTokenTimeoutSeconds":1800}'
      ok_answer(exchange("PUT", url("plain", n, TIMEOUT), { body = body }), body)
      assert.equal(body, fake.hostile(n).requests[1].body)
    end)

    it("no Authorization: 401 ErrorBody; wrong method: 405", function()
      local _, _, rest = split(exchange("GET", url("plain", nonce(), ME), { auth = false }).raw)
      local e = cjson.decode(rest)
      assert.same({ 401, "bad.credentials" }, { e.status, e.code })
      assert.is_string(e.contextId)
      assert.same({}, e.details)
      local status_line = split(exchange("POST", url("plain", nonce(), ME), { body = "{}" }).raw)
      assert.equal("HTTP/1.1 405 Method Not Allowed", status_line)
    end)

    it("the login issues a token the API then wants (an unknown hst- token is a 401)", function()
      local n = nonce()
      local basic = "Basic " .. (require "mime").b64("hostile-id:hostile-secret")
      local _, lines, rest = split(exchange("POST", url("plain", n, LOGIN), { auth = basic,
        body = "grant_type=client_credentials", content_type = "application/x-www-form-urlencoded" }).raw)
      local t = cjson.decode(rest)
      assert.same({ "bearer", 86400 }, { t.token_type, t.expires_in })
      assert.matches("^hst%-", t.access_token)
      assert.equal("no-store", header(lines, "Cache-Control"))
      assert.same({ t.access_token }, fake.hostile(n).tokens)
      assert.equal(basic, fake.hostile(n).requests[1].authorization)
      ok_answer(exchange("GET", url("plain", n, ME), { auth = "Bearer " .. t.access_token }))
      local status_line = split(exchange("GET", url("plain", n, ME), { auth = "Bearer hst-made-up" }).raw)
      assert.equal("HTTP/1.1 401 Unauthorized", status_line)
      -- Without Basic, or another grant: the OAuth error shape.
      local _, _, e = split(exchange("POST", url("plain", n, LOGIN), { auth = false,
        body = "grant_type=client_credentials", content_type = "application/x-www-form-urlencoded" }).raw)
      assert.equal("invalid_client", cjson.decode(e).error)
      _, _, e = split(exchange("POST", url("plain", n, LOGIN), { auth = basic,
        body = "grant_type=password", content_type = "application/x-www-form-urlencoded" }).raw)
      assert.equal("unsupported_grant_type", cjson.decode(e).error)
    end)
  end)

  describe("split modes", function()
    it("bytes: a byte a write, about 1 ms apart", function()
      local r = exchange("GET", url("bytes", nonce(), ME))
      ok_answer(r)
      assert.is_true(#r.reads > #r.raw / 4, #r.reads .. " reads for " .. #r.raw .. " bytes")
      assert.is_true(r.elapsed > #r.raw * 0.0008, "paced: " .. r.elapsed)
    end)

    it("random: pieces of 1-24 bytes, reassembling to the same answer", function()
      local r = exchange("GET", url("random", nonce(), ME))
      ok_answer(r)
      assert.is_true(#r.reads >= #r.raw / 48, #r.reads .. " reads")
    end)

    it("chunked: tiny chunks, hex in both cases, extensions, a trailer, splits inside lines", function()
      local r = exchange("GET", url("chunked", nonce(), ME))
      local status_line, lines, rest = split(r.raw)
      assert.equal("HTTP/1.1 200 OK", status_line)
      assert.equal("chunked", header(lines, "Transfer-Encoding"))
      assert.is_nil(header(lines, "Content-Length"))
      local body, sizes, exts, trailers, after = unchunk(rest)
      assert.equal(fixed.token_info, body)
      assert.equal("", after)
      local upper, lower, small, zero_led = false, false, 0, false
      for _, hex in ipairs(sizes) do
        if hex:find("%u") then upper = true end
        if hex:find("%l") then lower = true end
        if tonumber(hex, 16) >= 1 and tonumber(hex, 16) <= 7 then small = small + 1 end
        if #hex > 1 and hex:sub(1, 1) == "0" then zero_led = true end
      end
      assert.is_true(upper and lower and zero_led, table.concat(sizes, " "))
      assert.is_true(small > #sizes / 2)
      assert.is_true(#exts > 0 and exts[1] == ";x=y")
      assert.same({ "X-Trailer: done" }, trailers)
      -- Some read ends right after a CR, some inside a chunk-size line.
      local after_cr = false
      for _, piece in ipairs(r.reads) do
        if piece:sub(-1) == "\r" then after_cr = true end
      end
      assert.is_true(after_cr, "a write boundary inside a CRLF")
      assert.is_true(#r.reads > #sizes, #r.reads .. " reads, " .. #sizes .. " chunks")
    end)

    it("chunked on a HEAD and a 204: no chunks at all", function()
      local _, lines, rest = split(exchange("HEAD", url("chunked", nonce(), ME)).raw)
      assert.equal("chunked", header(lines, "Transfer-Encoding"))
      assert.equal("", rest)
      _, lines, rest = split(exchange("DELETE", url("chunked", nonce(), ME)).raw)
      assert.is_nil(header(lines, "Transfer-Encoding"))
      assert.equal("", rest)
    end)

    it("interim: 100 and 103 (with Link) before the answer, across writes", function()
      local r = exchange("GET", url("interim", nonce(), ME))
      local first = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </hostile.css>; rel=preload; as=style\r\n\r\n"
      assert.equal(first, r.raw:sub(1, #first))
      ok_answer({ raw = r.raw:sub(#first + 1), closed = r.closed })
      assert.is_true(#r.reads > 4)
    end)
  end)

  describe("big header blocks", function()
    it("huge_header: one header line of 1 MiB", function()
      local r = exchange("GET", url("huge_header", nonce(), ME))
      local _, lines, rest = split(r.raw)
      local pad = header(lines, "X-Hostile-Padding")
      assert.equal(1024 * 1024, #pad)
      assert.equal(fixed.token_info, rest)
    end)

    it("endless_line: a header line that goes on as long as it is read, without a line end", function()
      local c = assert(socket.tcp())
      c:settimeout(2)
      assert(c:connect("127.0.0.1", srv.port))
      assert(c:send("GET " .. url("endless_line", nonce(), ME) .. " HTTP/1.1\r\nHost: x\r\nAuthorization: "
        .. BEARER .. "\r\n\r\n"))
      local got = assert(c:receive(4 * 1024 * 1024)) -- 4 MiB of it, then hang up
      c:close()
      local prefix = "HTTP/1.1 200 OK\r\nX-Endless: "
      assert.equal(prefix, got:sub(1, #prefix))
      assert.is_nil(got:find("[^a]", #prefix + 1))
    end)

    it("slow_line: a header line a byte at a time, 100 ms apart", function()
      local r = exchange("GET", url("slow_line", nonce(), ME), { limit = 1.2, quiet = 0.5 })
      assert.equal(("HTTP/1.1 200 OK\r\nX-Slow: "):sub(1, #r.raw), r.raw)
      assert.is_true(#r.reads >= 4, #r.reads .. " reads")
      assert.is_false(r.closed)
    end)

    it("many_headers: 10,000 header lines, then the answer's own", function()
      local r = exchange("GET", url("many_headers", nonce(), ME))
      local _, lines, rest = split(r.raw)
      assert.is_true(#lines >= 10000 + 5, #lines .. " lines")
      assert.equal("10000", header(lines, "X-Hostile-10000"))
      assert.equal(fixed.token_info, rest)
    end)
  end)

  describe("rate-limit headers", function()
    local WANT = {
      ratelimit_zero = { { "0" }, { "0" }, { "0" } },
      ratelimit_negative = { { "-1" }, { "-300" }, { "-60" } },
      ratelimit_huge = { { "1234567890123456789012345" }, { "9999999999999999999999999" },
        { "1000000000000000000000000" } },
      ratelimit_garbage = { { "lots" }, { "" }, { "1e3", "0x10" } },
    }
    for mode, want in pairs(WANT) do
      it(mode, function()
        local lines = ok_answer(exchange("GET", url(mode, nonce(), ME)))
        assert.same(want, { values(lines, "inin-ratelimit-count"), values(lines, "inin-ratelimit-allowed"),
          values(lines, "inin-ratelimit-reset") })
      end)
    end
  end)

  describe("Retry-After", function()
    -- mode -> a check of the first 429's Retry-After, and whether the
    -- second request of the nonce still gets a 429.
    local function date_in(lo, hi)
      return function(v)
        local now = os.time()
        local d, mon, y, h, mi, s = v:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
        assert.is_string(d, "an IMF-fixdate: " .. v)
        local months = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
          Oct = 10, Nov = 11, Dec = 12 }
        -- os.time reads a local time; the offset from UTC cancels out.
        local utc = { year = tonumber(y), month = months[mon], day = tonumber(d), hour = tonumber(h),
          min = tonumber(mi), sec = tonumber(s) }
        local offset = os.time(os.date("!*t", now)) - now
        local at = os.time(utc) - offset
        -- a second either way: the server's clock and ours may read either side of a tick
        assert.is_true(at - now >= lo - 1 and at - now <= hi + 1, v .. " is " .. (at - now) .. " s from now")
      end
    end
    local function is(want) return function(v) assert.equal(want, v) end end
    local MODES = {
      retry_after_seconds = { is("1"), false },
      retry_after_date = { date_in(1, 2), false },
      retry_after_past_date = { date_in(-3601, -3599), false },
      retry_after_far_date = { date_in(3599, 3600), true },
      retry_after_negative = { is("-5"), false },
      retry_after_huge = { is("99999999999999"), true },
      retry_after_garbage = { is("soon"), false },
      retry_after_ratelimit = { is("1"), false },
    }
    for mode, spec in pairs(MODES) do
      it(mode, function()
        local n = nonce()
        local _, lines, rest = split(exchange("GET", url(mode, n, ME)).raw)
        local e = cjson.decode(rest)
        assert.same({ 429, "too.many.requests.retry.after" }, { e.status, e.code })
        assert.matches("^Rate limit exceeded the maximum%. Retry the request in %[%d+%] seconds$", e.message)
        spec[1](header(lines, "Retry-After"))
        if mode == "retry_after_ratelimit" then
          assert.same({ "300", "300", "1" }, { header(lines, "inin-ratelimit-count"),
            header(lines, "inin-ratelimit-allowed"), (header(lines, "inin-ratelimit-reset")) })
        else
          assert.is_nil(header(lines, "inin-ratelimit-count"))
        end
        local status_line = split(exchange("GET", url(mode, n, ME)).raw)
        assert.equal(spec[2] and "HTTP/1.1 429 Too Many Requests" or "HTTP/1.1 200 OK", status_line)
      end)
    end

    it("on the login, in the OAuth shape", function()
      local _, _, rest = split(exchange("POST", url("retry_after_seconds", nonce(), LOGIN), { auth = "Basic eDp5",
        body = "grant_type=client_credentials", content_type = "application/x-www-form-urlencoded" }).raw)
      assert.equal("too_many_requests", cjson.decode(rest).error)
    end)
  end)

  describe("echo", function()
    it("echo: a 400 carrying every request header line and the Authorization value", function()
      local auth = "Bearer a/b+c=d~e_f.g-h"
      local r = exchange("GET", url("echo", nonce(), ME), { auth = auth, headers = { "X-Extra: one" } })
      local status_line, lines, rest = split(r.raw)
      assert.equal("HTTP/1.1 400 Bad Request", status_line)
      assert.equal(auth, header(lines, "ININ-Correlation-Id"))
      -- cjson writes '/' as '\/': the secret is there, escaped.
      assert.truthy(rest:find("a\\/b+c=d~e_f.g-h", 1, true))
      local e = cjson.decode(rest)
      assert.same({ 400, auth, auth }, { e.status, e.code, e.contextId })
      assert.equal(r.request, e.message)
      assert.truthy(e.message:find("X-Extra: one\r\n", 1, true))
    end)

    it("echo on the login: the OAuth shape", function()
      local r = exchange("POST", url("echo", nonce(), LOGIN), { auth = "Basic eDp5", body = "grant_type=client_credentials",
        content_type = "application/x-www-form-urlencoded" })
      local _, lines, rest = split(r.raw)
      local e = cjson.decode(rest)
      assert.equal("Basic eDp5", e.error)
      assert.truthy(e.error_description:find("Authorization: Basic eDp5\r\n", 1, true))
      assert.equal("Basic eDp5", header(lines, "ININ-Correlation-Id"))
    end)

    it("echo_ok: the answer, the Authorization value as correlation id", function()
      local lines = ok_answer(exchange("GET", url("echo_ok", nonce(), ME)))
      assert.equal(BEARER, header(lines, "ININ-Correlation-Id"))
    end)
  end)

  describe("slow and broken", function()
    it("stall_headers: the status line, then nothing", function()
      local r = exchange("GET", url("stall_headers", nonce(), ME), { quiet = 0.4 })
      assert.equal("HTTP/1.1 200 OK\r\n", r.raw)
      assert.is_false(r.closed)
    end)

    it("stall_body: Content-Length 300, 10 bytes, then nothing", function()
      local r = exchange("GET", url("stall_body", nonce(), ME), { quiet = 0.4 })
      local _, lines, rest = split(r.raw)
      assert.equal("300", header(lines, "Content-Length"))
      assert.equal(fixed.token_info:sub(1, 10), rest)
      assert.is_false(r.closed)
    end)

    it("trickle_body: a body byte every 100 ms", function()
      local r = exchange("GET", url("trickle_body", nonce(), ME), { quiet = 0.3, limit = 0.55 })
      local _, lines, rest = split(r.raw)
      assert.equal(tostring(#fixed.token_info), header(lines, "Content-Length"))
      assert.is_true(#rest >= 3 and #rest <= 7, #rest .. " bytes in 0.55 s")
      assert.equal(fixed.token_info:sub(1, #rest), rest)
    end)

    it("trickle_headers: a header byte every 50 ms", function()
      local r = exchange("GET", url("trickle_headers", nonce(), ME), { limit = 0.5 })
      assert.is_true(#r.raw >= 6 and #r.raw <= 12, #r.raw .. " bytes in 0.5 s")
      assert.equal(("HTTP/1.1 200 OK\r\nContent-Type"):sub(1, #r.raw), r.raw)
    end)

    it("close_early: half the body, then close (no body: half the header block)", function()
      local r = exchange("GET", url("close_early", nonce(), ME))
      local _, lines, rest = split(r.raw)
      assert.is_true(r.closed)
      assert.is_true(#rest < tonumber((header(lines, "Content-Length"))))
      r = exchange("DELETE", url("close_early", nonce(), ME))
      assert.is_true(r.closed)
      assert.is_nil(r.raw:find("\r\n\r\n", 1, true))
    end)

    it("garbage_status: the first line is not HTTP", function()
      local r = exchange("GET", url("garbage_status", nonce(), ME))
      assert.matches("^SSH%-2%.0%-", r.raw)
      assert.is_nil(r.raw:find("HTTP/", 1, true))
      assert.is_true(r.closed)
    end)

    it("nonsense_headers and odd_headers: odd lines, Content-Length right", function()
      for _, mode in ipairs { "nonsense_headers", "odd_headers" } do
        local r = exchange("GET", url(mode, nonce(), ME))
        local lines = ok_answer(r)
        local set = {}
        for _, l in ipairs(lines) do set[l] = true end
        assert.equal(mode == "nonsense_headers", set.ThisLineHasNoColon == true, mode)
        assert.is_true(set["X-Spaced : v"] and set["X-Folded: first"] and set[" continued after an obs-fold"]
          and set["\tand again"] and set["X-Bytes: a\1b\127c\255d"] and set["X-Empty:"], mode)
      end
    end)

    it("bad_content_length: two that differ; bad_content_length_alpha: not a number", function()
      local r = exchange("GET", url("bad_content_length", nonce(), ME))
      local _, lines, rest = split(r.raw)
      assert.same({ tostring(#fixed.token_info), tostring(#fixed.token_info + 5) }, values(lines, "Content-Length"))
      assert.equal(fixed.token_info, rest)
      assert.is_true(r.closed)
      r = exchange("GET", url("bad_content_length_alpha", nonce(), ME))
      _, lines, rest = split(r.raw)
      assert.same({ "lots" }, values(lines, "Content-Length"))
      assert.equal(fixed.token_info, rest)
    end)

    it("http10: HTTP/1.0, no Content-Length, the body until close", function()
      local r = exchange("GET", url("http10", nonce(), ME))
      local status_line, lines, rest = split(r.raw)
      assert.equal("HTTP/1.0 200 OK", status_line)
      assert.is_nil(header(lines, "Content-Length"))
      assert.equal(fixed.token_info, rest)
      assert.is_true(r.closed)
    end)

    it("lf_only: no CR at all", function()
      local r = exchange("GET", url("lf_only", nonce(), ME))
      assert.is_nil(r.raw:find("\r", 1, true))
      local status_line, lines, rest = split(r.raw, "\n")
      assert.equal("HTTP/1.1 200 OK", status_line)
      assert.equal(tostring(#rest), header(lines, "Content-Length"))
      assert.equal(fixed.token_info, rest)
    end)

    it("connection_close, mixed_case, no_reason", function()
      local lines = ok_answer(exchange("GET", url("connection_close", nonce(), ME)))
      assert.equal("close", header(lines, "Connection"))
      local r = exchange("GET", url("mixed_case", nonce(), ME))
      assert.truthy(r.raw:find("\r\ncOnTeNt-LeNgTh: " .. #fixed.token_info .. "\r\n", 1, true))
      assert.truthy(r.raw:find("\r\nInIn-CoRrElAtIoN-iD: ", 1, true))
      r = exchange("GET", url("no_reason", nonce(), ME))
      assert.equal("HTTP/1.1 200 \r\n", r.raw:sub(1, 15))
    end)
  end)

  it("over TLS (openssl s_client): the same bytes, chunked included", function()
    local function tls(mode, rest)
      local req = "GET " .. url(mode, nonce(), rest) .. " HTTP/1.1\\r\\nHost: localhost\\r\\nAuthorization: "
        .. BEARER .. "\\r\\n\\r\\n"
      local cmd = ("printf '%s' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:%d -servername localhost"
        .. " -verify_hostname localhost -verify_return_error -CAfile %s 2>/dev/null"):format(req, srv.tls_port, srv.ca_file)
      local p = assert(io.popen(cmd, "r"))
      local out = p:read("*a")
      p:close()
      return out
    end
    ok_answer({ raw = tls("bytes", ME), closed = true })
    local _, _, rest = split(tls("chunked", ME))
    assert.equal(fixed.token_info, (unchunk(rest)))
  end)

  it("logged no error of its own", function()
    local f = io.open(srv.error_log)
    local text = f and f:read("*a") or ""
    if f then f:close() end
    assert.is_nil(text:match("[^\n]*hostile[^\n]*"))
  end)

  it("lists no mode this spec leaves out", function()
    local covered = {}
    for _, m in ipairs { "plain", "bytes", "random", "chunked", "interim", "huge_header", "endless_line", "slow_line",
      "many_headers", "ratelimit_zero",
      "ratelimit_negative", "ratelimit_huge", "ratelimit_garbage", "retry_after_seconds", "retry_after_date",
      "retry_after_past_date", "retry_after_far_date", "retry_after_negative", "retry_after_huge",
      "retry_after_garbage", "retry_after_ratelimit", "echo", "echo_ok", "stall_headers", "stall_body",
      "trickle_body", "trickle_headers", "close_early", "garbage_status", "nonsense_headers", "odd_headers", "bad_content_length",
      "bad_content_length_alpha", "http10", "lf_only", "connection_close", "mixed_case", "no_reason" } do
      covered[m] = true
    end
    for _, m in ipairs(fixed.modes) do assert.is_true(covered[m], "mode " .. m .. " has no spec here") end
  end)
end)
