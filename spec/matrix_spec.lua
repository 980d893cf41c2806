-- The bad-input and fault matrix. Every public function and option is fed
-- every kind of bad value: misuse must raise "genesys.tokens: ..." at the
-- caller with no request sent and the client still usable; a bad runtime
-- value must give the documented result. Every fault of the fake is then
-- played against every call: the documented error kind, no secret in the
-- error or the log, and the client works on the next call.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

local errors = tokens.errors

local TOKEN = "tok-admin"
local BOB = fake.seed.users.bob.id
local ALICE = fake.seed.users.alice.id
local MIB = ("x"):rep(1024 * 1024)

-- Every kind of bad value; `key` names it in the expectation tables.
local VALUES = {
  { key = "nil", label = "nil" },
  { key = "number", label = "a number", value = 42 },
  { key = "boolean", label = "a boolean", value = true },
  { key = "table", label = "a table", value = {} },
  { key = "func", label = "a function", value = function() end },
  { key = "empty", label = "an empty string", value = "" },
  { key = "mib", label = "a 1 MiB string", value = MIB },
  { key = "nul", label = "a NUL byte", value = "se\0cret" },
  { key = "crlf", label = "CR/LF", value = "se\r\ncret" },
  { key = "utf8", label = "invalid UTF-8", value = "\255\254" },
  { key = "negative", label = "a negative number", value = -1 },
  { key = "nan", label = "NaN", value = 0 / 0 },
  { key = "inf", label = "infinity", value = math.huge },
}

---------------------------------------------------------------- outcomes

-- What one value must do: raise (a plain substring of the message), be
-- accepted (the call succeeds, or fails with the documented `fails`
-- fields), or be accepted without a call (it would leave loopback).
local function raise(message) return { raise = message } end
local OK = { ok = true }
local NOCALL = { ok = true, nocall = true }
local function fails(fields) return { fails = fields } end

-- The outcome of every value: `specific` by key; nil is accepted unless
-- said otherwise; a value whose type is not in `want` raises
-- `wrong(type)`. A value of a wanted type must be listed.
local function outcomes(want, wrong, specific)
  local out = {}
  for _, v in ipairs(VALUES) do
    local o = specific[v.key]
    if o == nil then
      if v.key == "nil" then
        o = OK
      elseif not want[type(v.value)] then
        o = raise(wrong(type(v.value)))
      else
        error("no outcome for " .. v.key)
      end
    end
    out[v.key] = o
  end
  return out
end

local function set(...)
  local s = {}
  for _, k in ipairs { ... } do s[k] = true end
  return s
end

local function option_type(name, want)
  return function(got) return ("option '%s' must be a %s, got %s"):format(name, want, got) end
end

---------------------------------------------------------------- helpers

local function shown(s)
  s = tostring(s)
  if #s > 160 then return s:sub(1, 160) .. "... (" .. #s .. " bytes)" end
  return s
end

-- The message `f` raises; fails if it returns.
local function raised(f)
  local ok, err = pcall(f)
  assert(not ok, "did not raise")
  return tostring(err)
end

-- A misuse message: blamed on the line of this file that called the
-- library, in the library's voice, saying `expected`, and readable.
local function check_message(msg, expected)
  assert(msg:match("^spec/matrix_spec%.lua:%d+: genesys%.tokens: "), "not a misuse raised at the caller: " .. shown(msg))
  assert(msg:find(expected, 1, true), "expected '" .. expected .. "' in: " .. shown(msg))
  assert(#msg < 1024, "a message of " .. #msg .. " bytes: " .. shown(msg))
  assert(not msg:find("%c"), "a control character in: " .. shown(msg))
end

-- The strings anywhere inside `v` that hold the token.
local function leaks(v, found)
  found = found or {}
  if type(v) == "string" then
    if v:find(TOKEN, 1, true) then found[#found + 1] = v end
  elseif type(v) == "table" then
    for k, x in pairs(v) do
      leaks(k, found)
      leaks(x, found)
    end
  end
  return found
end

local function api_log()
  local out = {}
  for _, e in ipairs(fake.log()) do
    if e.server == "api" then out[#out + 1] = e end
  end
  return out
end

describe("the matrix", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  -- Options of a client of the fake, with `extra` on top.
  local function client_opts(extra, without_token)
    local o = { base_url = srv.http_url, retry = false, timeout = 5 }
    if not without_token then o.access_token = TOKEN end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  local function client(extra) return tokens.new(client_opts(extra)) end

  -- Checks a call made with an accepted value against `outcome`.
  local function check_accepted(outcome, value, err)
    if outcome.fails then
      assert.falsy(value)
      assert.is_true(errors.is(err), "not an error object: " .. shown(err))
      for k, v in pairs(outcome.fails) do assert.equal(v, err[k], k) end
    else
      assert(value, "the call failed: " .. shown(err))
    end
  end

  ------------------------------------------------------------ tokens.new

  describe("tokens.new", function()
    local NOT_VISIBLE = raise "access token contains a byte that is not visible ASCII"
    local SECONDS = "must be a number of seconds from 0.001 to 86400"
    local function empty_or_control(name)
      return raise(("option '%s' is empty or contains a control character"):format(name))
    end
    local function url_rules(name)
      return {
        empty = raise "is not an http(s) URL", mib = raise(name .. " is too long"),
        nul = raise(name .. " contains a space or a control character"),
        crlf = raise(name .. " contains a space or a control character"),
        utf8 = raise "is not an http(s) URL",
      }
    end
    local function gateway_type(field, want)
      return function(got) return ("gateway option '%s' must be a %s, got %s"):format(field, want, got) end
    end
    local function retry_field(name)
      local msg = raise(("retry option '%s' must be a number from 0 to 86400"):format(name))
      return { name = "retry." .. name, build = function(v) return client_opts { retry = { [name] = v } } end,
        out = outcomes(set "number", function() return msg.raise end,
          { number = OK, negative = msg, nan = msg, inf = msg }) }
    end
    local function boolean_option(name)
      return { name = name, build = function(v) return client_opts { [name] = v } end,
        out = outcomes(set "boolean", option_type(name, "boolean"), { boolean = OK }) }
    end
    local function seconds_option(name)
      local msg = raise(name .. " " .. SECONDS)
      return { name = name, build = function(v) return client_opts { [name] = v } end,
        out = outcomes(set "number", option_type(name, "number"),
          { number = OK, negative = msg, nan = msg, inf = msg }) }
    end
    local function one_of(name, message)
      local msg = raise(message)
      return { name = name, build = function(v) return client_opts { [name] = v } end,
        out = outcomes(set "string", option_type(name, "string"), {
          -- The bad value is shown cut to 64 bytes, control bytes escaped.
          empty = msg, utf8 = msg, mib = msg, nul = msg, crlf = msg,
        }) }
    end
    -- A gateway to the fake's own /gw/api and /gw/login prefixes.
    local function gateway(field, v)
      local gw = { host = "127.0.0.1", port = srv.port, protocol = "http", api_path = "gw/api", login_path = "gw/login" }
      gw[field] = v
      return { gateway = gw, access_token = TOKEN, retry = false, timeout = 5 }
    end

    local OPTIONS = {
      { name = "the options table", build = function(v) return v end,
        out = outcomes(set "table", function(got) return "options must be a table, got " .. got end,
          { ["nil"] = NOCALL, table = NOCALL }) },
      { name = "access_token", build = function(v) return client_opts({ access_token = v }, true) end,
        out = outcomes(set "string", option_type("access_token", "string"), {
          ["nil"] = fails { kind = "auth" }, -- no credentials: nil, err before any request
          empty = raise "access token is empty", mib = raise "access token is too long",
          nul = NOT_VISIBLE, crlf = NOT_VISIBLE, utf8 = NOT_VISIBLE,
        }) },
      { name = "client_id", build = function(v)
          return client_opts({ client_id = v, client_secret = "cc-admin-secret" }, true)
        end,
        out = outcomes(set "string", option_type("client_id", "string"), {
          ["nil"] = raise "client_id and client_secret go together",
          empty = raise "client id is empty", mib = raise "client id is too long",
          nul = raise "client id contains a control character", crlf = raise "client id contains a control character",
          utf8 = fails { kind = "auth", code = "invalid_client" }, -- any bytes: the login server refuses it
        }) },
      { name = "client_secret", build = function(v)
          return client_opts({ client_id = "cc-admin-id", client_secret = v }, true)
        end,
        out = outcomes(set "string", option_type("client_secret", "string"), {
          ["nil"] = raise "client_id and client_secret go together",
          empty = raise "client secret is empty", mib = raise "client secret is too long",
          nul = raise "client secret contains a control character",
          crlf = raise "client secret contains a control character",
          utf8 = fails { kind = "auth", code = "invalid_client" },
        }) },
      { name = "region", build = function(v) return { region = v, access_token = TOKEN } end,
        out = outcomes(set "string", option_type("region", "string"), {
          ["nil"] = NOCALL, -- us-east-1: not called, it is not loopback
          empty = raise "unknown region", utf8 = raise "unknown region",
          mib = raise "region is too long to be a host name", nul = raise "unknown region",
          crlf = raise "unknown region",
        }) },
      { name = "base_url", build = function(v) return { base_url = v, access_token = TOKEN } end,
        out = outcomes(set "string", option_type("base_url", "string"),
          (function() local t = url_rules("base_url") t["nil"] = NOCALL return t end)()) },
      { name = "login_url", build = function(v) return client_opts { login_url = v } end,
        out = outcomes(set "string", option_type("login_url", "string"), url_rules("login_url")) },
      { name = "gateway", build = function(v) return { gateway = v, access_token = TOKEN } end,
        out = outcomes(set "table", option_type("gateway", "table"),
          { ["nil"] = NOCALL, table = raise "gateway needs a host" }) },
      { name = "gateway.host", build = function(v) return gateway("host", v) end,
        out = outcomes(set "string", gateway_type("host", "string"), {
          ["nil"] = raise "gateway needs a host", empty = raise "is not a host name or address",
          mib = raise "gateway is too long", nul = raise "is not a host name or address",
          crlf = raise "is not a host name or address", utf8 = raise "is not a host name or address",
        }) },
      { name = "gateway.port", build = function(v) return gateway("port", v) end,
        out = outcomes(set "number", gateway_type("port", "number"), {
          ["nil"] = NOCALL, number = NOCALL, -- port 80 / 42 of 127.0.0.1: nothing of ours there
          negative = raise "gateway port must be a whole number from 1 to 65535",
          nan = raise "gateway port must be a whole number from 1 to 65535",
          inf = raise "gateway port must be a whole number from 1 to 65535",
        }) },
      { name = "gateway.protocol", build = function(v) return gateway("protocol", v) end,
        out = outcomes(set "string", gateway_type("protocol", "string"), {
          ["nil"] = NOCALL, -- https to the plain port
          empty = raise "is not an http(s) URL", mib = raise "gateway is too long",
          nul = raise "gateway contains a space or a control character",
          crlf = raise "gateway contains a space or a control character", utf8 = raise "is not an http(s) URL",
        }) },
      { name = "gateway.api_path", build = function(v) return gateway("api_path", v) end,
        out = outcomes(set "string", gateway_type("api_path", "string"), {
          empty = OK, -- the origin itself
          mib = raise "gateway is too long", nul = raise "gateway contains a space or a control character",
          crlf = raise "gateway contains a space or a control character",
          utf8 = fails { kind = "http", status = 404 }, -- a path of its own: the fake has no such route
        }) },
      { name = "gateway.login_path", build = function(v) return gateway("login_path", v) end,
        out = outcomes(set "string", gateway_type("login_path", "string"), {
          empty = OK, utf8 = OK, -- unused with an access token
          mib = raise "gateway is too long", nul = raise "gateway contains a space or a control character",
          crlf = raise "gateway contains a space or a control character",
        }) },
      boolean_option "allow_http",
      seconds_option "timeout",
      seconds_option "connect_timeout",
      { name = "ca_file", build = function(v) return client_opts { ca_file = v } end,
        out = outcomes(set "string", option_type("ca_file", "string"), {
          empty = empty_or_control "ca_file", nul = empty_or_control "ca_file", crlf = empty_or_control "ca_file",
          mib = raise "option 'ca_file' is too long",
          utf8 = OK, -- a path; plain http does not read it (see the https case below)
        }) },
      { name = "proxy", build = function(v) return client_opts { proxy = v } end,
        out = outcomes(set "string", option_type("proxy", "string"), {
          empty = empty_or_control "proxy", nul = empty_or_control "proxy", crlf = empty_or_control "proxy",
          mib = raise "option 'proxy' is too long",
          utf8 = NOCALL, -- libcurl parses (and would resolve) it at call time
        }) },
      { name = "no_proxy", build = function(v) return client_opts { no_proxy = v } end,
        out = outcomes(set "string", option_type("no_proxy", "string"), {
          empty = OK, utf8 = OK, -- host patterns; no proxy is in play
          mib = raise "option 'no_proxy' is too long",
          nul = raise "option 'no_proxy' contains a control character",
          crlf = raise "option 'no_proxy' contains a control character",
        }) },
      { name = "user_agent", build = function(v) return client_opts { user_agent = v } end,
        out = outcomes(set "string", option_type("user_agent", "string"), {
          empty = empty_or_control "user_agent", nul = empty_or_control "user_agent",
          crlf = empty_or_control "user_agent",
          utf8 = OK, -- obs-text is legal in a header value
          mib = raise "option 'user_agent' is too long",
        }) },
      { name = "headers", build = function(v) return client_opts { headers = v } end,
        out = outcomes(set "table", option_type("headers", "table"), { table = OK }) },
      { name = "a header name", build = function(v)
          if v == nil or v ~= v then return client_opts { headers = {} } end -- not a possible key
          return client_opts { headers = { [v] = "v" } }
        end,
        out = outcomes(set "string", function() return "is not a valid header name" end, {
          nan = OK, -- NaN cannot be a table key: nothing to test
          empty = raise "is not a valid header name", utf8 = raise "is not a valid header name",
          nul = raise "is not a valid header name", crlf = raise "is not a valid header name",
          mib = raise "is not a valid header name",
        }) },
      { name = "a header value", build = function(v) return client_opts { headers = { ["X-Matrix"] = v } } end,
        out = outcomes(set "string", function() return "headers: the value of 'X-Matrix' must be a string" end, {
          empty = raise "headers: the value of 'X-Matrix' is empty", -- libcurl would drop it
          utf8 = OK,
          nul = raise "headers: the value of 'X-Matrix' contains a control character",
          crlf = raise "headers: the value of 'X-Matrix' contains a control character",
          mib = raise "headers: the value of 'X-Matrix' is too long",
        }) },
      { name = "max_body", build = function(v) return client_opts { max_body = v } end,
        out = outcomes(set "number", option_type("max_body", "number"), {
          number = fails { kind = "too_large" }, -- 42 bytes: a TokenInfo is larger
          negative = raise "max_body must be a whole number of bytes from 1 to 1 GiB",
          nan = raise "max_body must be a whole number of bytes from 1 to 1 GiB",
          inf = raise "max_body must be a whole number of bytes from 1 to 1 GiB",
        }) },
      { name = "retry", build = function(v) return client_opts { retry = v } end,
        out = outcomes(set "table", option_type("retry", "table or false"), {
          table = OK, boolean = raise "option 'retry' must be a table or false, got boolean",
        }) },
      retry_field "max_attempts",
      retry_field "base_delay",
      retry_field "max_delay",
      retry_field "budget",
      one_of("log_level", "log_level must be one of none, error, debug, trace"),
      { name = "logger", build = function(v) return client_opts { logger = v, log_level = v ~= nil and "debug" or nil } end,
        out = outcomes(set "function", option_type("logger", "function"), { func = OK }) },
      boolean_option "log_bodies",
      one_of("transport", "transport must be auto, curl or ngx"),
      boolean_option "allow_blocking",
    }

    for _, opt in ipairs(OPTIONS) do
      describe(opt.name, function()
        for _, v in ipairs(VALUES) do
          local outcome = opt.out[v.key]
          it(v.label, function()
            local o = opt.build(v.value)
            if outcome.raise then
              check_message(raised(function() local c = tokens.new(o) return c end), outcome.raise)
              assert.equal(0, #fake.log(), "a request was sent")
              return
            end
            local c = tokens.new(o)
            if not outcome.nocall then check_accepted(outcome, c:me()) end
            c:close()
          end)
        end
      end)
    end

    it("a 1 MiB user_agent, header name or header value is refused at tokens.new, not at every call", function()
      -- Regression: they were accepted, and every call then raised "not
      -- enough memory" (libcurl refuses a request head over 1 MiB).
      for _, extra in ipairs { { user_agent = MIB }, { headers = { [MIB] = "v" } }, { headers = { ["X-Big"] = MIB } } } do
        check_message(raised(function() local c = tokens.new(client_opts(extra)) return c end), "")
      end
    end)

    it("an accepted ca_file that does not exist gives a tls error over https", function()
      for _, path in ipairs { ("d/"):rep(2000), "\255\254" } do
        local c = tokens.new { base_url = srv.https_url, ca_file = path, access_token = TOKEN, retry = false }
        local info, err = c:me()
        assert.is_nil(info)
        assert.equal("tls", err.kind)
        assert.is_true(#tostring(err) < 1024)
      end
      assert.equal(0, #fake.log())
    end)

    it("an accepted https base_url whose host is not a host name fails at call time, without DNS", function()
      local c = tokens.new { base_url = "https://\255\254", access_token = TOKEN, retry = false, timeout = 2 }
      local info, err = c:me()
      assert.is_nil(info)
      assert.equal("network", err.kind)
      assert.equal("CURLE_URL_MALFORMAT", err.code)
    end)

    it("a header value of invalid UTF-8 reaches the server as it is", function()
      assert(client({ headers = { ["X-Matrix"] = "\255\254" }, user_agent = "\255\254" }):me())
      local h = api_log()[1].headers
      assert.equal("\255\254", h["x-matrix"])
      assert.matches("^\255\254 genesys%-tokens/", h["user-agent"])
    end)

    it("an empty header value is refused (libcurl would drop the header without a word)", function()
      check_message(raised(function() local c = tokens.new(client_opts { headers = { ["X-Empty"] = "" } }) return c end),
        "headers: the value of 'X-Empty' is empty")
    end)

    it("a timeout under a millisecond is refused (it would round to libcurl's 'no limit')", function()
      check_message(raised(function() local c = tokens.new(client_opts { timeout = 1e-4 }) return c end),
        "timeout must be a number of seconds from 0.001 to 86400")
      check_message(raised(function() local c = tokens.new(client_opts { connect_timeout = 1e-4 }) return c end),
        "connect_timeout must be a number of seconds from 0.001 to 86400")
      fake.fault { kind = "delay", seconds = 1 }
      local info, err = client({ timeout = 0.001 }):me()
      assert.is_nil(info)
      assert.equal("timeout", err and err.kind)
    end)

    it("a timeout of 0 is refused", function()
      check_message(raised(function() local c = tokens.new(client_opts { timeout = 0 }) return c end),
        "timeout must be a number of seconds")
      check_message(raised(function() local c = tokens.new(client_opts { connect_timeout = 0 }) return c end),
        "connect_timeout must be a number of seconds")
    end)

    it("tokens.configure refuses what is not a table, and keeps the default client", function()
      tokens.configure { base_url = srv.http_url, access_token = TOKEN, retry = false }
      for _, v in ipairs(VALUES) do
        if v.value ~= nil and type(v.value) ~= "table" then
          check_message(raised(function() local c = tokens.configure(v.value) return c end),
            "options must be a table, got " .. type(v.value))
        end
      end
      assert(tokens.me(), "the default client still works")
      tokens.configure { base_url = "http://127.0.0.1:1" }
    end)

    it("errors.is tells no bad value for an error object", function()
      for _, v in ipairs(VALUES) do assert.is_false(errors.is(v.value), v.label) end
    end)
  end)

  ------------------------------------------------------------ the calls

  -- Each call, its argument when it takes one, and the errors of its
  -- options table (revoke_many has its own).
  local CALLS = {
    { name = "me", fields = set("access_token", "preserve_idle_ttl", "raw") },
    { name = "verify", fields = set "access_token" },
    { name = "revoke_me", fields = set "access_token" },
    { name = "revoke", fields = set "access_token", arg = BOB },
    { name = "idle_timeout", fields = set("access_token", "raw") },
    { name = "set_idle_timeout", fields = set "access_token", arg = { idleTokenTimeoutSeconds = 1800 } },
    { name = "revoke_many", fields = set("access_token", "concurrency", "on_progress"), arg = { BOB }, bulk = true },
  }
  local FIELDS = { "access_token", "preserve_idle_ttl", "raw", "concurrency", "on_progress" }
  local FIELD_TYPES = { access_token = "string", preserve_idle_ttl = "boolean", raw = "boolean",
    concurrency = "number", on_progress = "function" }

  -- The outcome of `field = value` in the options of `call`.
  local function field_outcomes(call, field)
    local prefix = call.bulk and "revoke_many option" or "call option"
    if not call.fields[field] then
      local unknown = raise(("unknown %s '%s'"):format(call.bulk and "revoke_many option" or "call option", field))
      return outcomes({}, function() return unknown.raise end, {})
    end
    local want = FIELD_TYPES[field]
    local wrong = function(got) return ("%s '%s' must be a %s, got %s"):format(prefix, field, want, got) end
    if field == "access_token" then
      local not_visible = raise "access token contains a byte that is not visible ASCII"
      return outcomes(set "string", wrong, { empty = raise "access token is empty",
        mib = raise "access token is too long", nul = not_visible, crlf = not_visible, utf8 = not_visible })
    elseif field == "concurrency" then
      local range = raise "concurrency must be a whole number from 1 to 256"
      return outcomes(set "number", wrong, { number = OK, negative = range, nan = range, inf = range })
    end
    return outcomes(set(want), wrong, want == "boolean" and { boolean = OK } or { func = OK })
  end

  -- Runs `call` on `target` (a client, or nil for the module-level
  -- function) from a frame of this file; returns its results.
  local function invoke(target, call, arg, opts)
    local f = target and target[call.name] or tokens[call.name]
    local a, b
    if call.arg ~= nil then
      if target then a, b = f(target, arg, opts) else a, b = f(arg, opts) end
    else
      if target then a, b = f(target, opts) else a, b = f(opts) end
    end
    return a, b
  end

  -- A result that means success: revoke_many's results must say so too.
  local function succeeded(call, value, err)
    assert(value, "the call failed: " .. shown(err))
    if call.bulk then assert.is_true(value[1].ok, shown(value[1].err)) end
  end

  for _, form in ipairs { "client", "module" } do
    describe(form == "client" and "client methods" or "module-level functions", function()
      local c

      before_each(function()
        if form == "client" then
          c = client()
        else
          c = tokens.configure(client_opts())
        end
      end)
      after_each(function() c:close() end)
      lazy_teardown(function() tokens.configure { base_url = "http://127.0.0.1:1" } end)

      local function target() return form == "client" and c or nil end

      -- A misuse: the message, no request, and the same client works.
      local function misuse(f, expected)
        local before = #fake.log()
        check_message(raised(f), expected)
        assert.equal(before, #fake.log(), "a request was sent")
        assert(c:me(), "the client works afterwards")
      end

      local function run_case(call, arg, opts, outcome)
        if outcome.raise then
          misuse(function() local a = invoke(target(), call, arg, opts) return a end, outcome.raise)
        elseif outcome.fails then
          check_accepted(outcome, invoke(target(), call, arg, opts))
        else
          succeeded(call, invoke(target(), call, arg, opts))
        end
      end

      for _, call in ipairs(CALLS) do
        describe(call.name, function()
          local opts_error = call.bulk and "revoke_many options must be a table, got " or "call options must be a table, got "
          local whole = outcomes(set "table", function(got) return opts_error .. got end, { table = OK })
          for _, v in ipairs(VALUES) do
            it("options: " .. v.label, function() run_case(call, call.arg, v.value, whole[v.key]) end)
          end
          for _, field in ipairs(FIELDS) do
            local out = field_outcomes(call, field)
            for _, v in ipairs(VALUES) do
              it(("%s = %s"):format(field, v.label), function()
                run_case(call, call.arg, { [field] = v.value }, out[v.key])
              end)
            end
          end
        end)
      end

      describe("revoke(user_id)", function()
        local call = CALLS[4]
        local out = outcomes(set "string", function(got) return "user id must be a string, got " .. got end, {
          ["nil"] = raise "user id must be a string, got nil",
          empty = raise "user id is empty", mib = raise "user id is too long",
          nul = raise "user id contains a control character", crlf = raise "user id contains a control character",
          utf8 = fails { kind = "http", status = 404, code = "not.found" }, -- a valid id, percent-encoded
        })
        for _, v in ipairs(VALUES) do
          it(v.label, function() run_case(call, v.value, nil, out[v.key]) end)
        end
      end)

      describe("set_idle_timeout(value)", function()
        local call = CALLS[6]
        local out = outcomes(set "table", function(got) return "timeout must be a table, got " .. got end,
          { ["nil"] = raise "timeout must be a table, got nil", table = OK })
        for _, v in ipairs(VALUES) do
          it("value: " .. v.label, function() run_case(call, v.value, nil, out[v.key]) end)
        end
        local BAD_REQUEST = fails { kind = "http", status = 400, code = "bad.request" }
        local function must(field, what) return function() return ("timeout.%s must be %s"):format(field, what) end end
        local FIELDS_OUT = {
          idleTokenTimeoutSeconds = outcomes(set "number", must("idleTokenTimeoutSeconds", "a whole number of seconds"), {
            number = BAD_REQUEST, negative = BAD_REQUEST, -- whole numbers: the range is the API's to judge
            nan = raise "timeout.idleTokenTimeoutSeconds must be a whole number of seconds",
            inf = raise "timeout.idleTokenTimeoutSeconds must be a whole number of seconds",
          }),
          enableIdleTokenTimeout = outcomes(set "boolean", must("enableIdleTokenTimeout", "a boolean"),
            { boolean = OK }),
          inactivityTimeoutUnit = outcomes(set "string", must("inactivityTimeoutUnit", "a string"), {
            empty = BAD_REQUEST, nul = BAD_REQUEST, crlf = BAD_REQUEST, utf8 = BAD_REQUEST,
            mib = fails { kind = "http", status = 413 }, -- the server's own request size limit
          }),
          inactivityTimeoutGroupsEnabled = outcomes(set "boolean", must("inactivityTimeoutGroupsEnabled", "a boolean"),
            { boolean = OK }),
          inactivityTimeoutGroupBundles = outcomes(set "table",
            must("inactivityTimeoutGroupBundles", "a list of bundle tables"), { table = OK }),
        }
        for _, field in ipairs { "idleTokenTimeoutSeconds", "enableIdleTokenTimeout", "inactivityTimeoutUnit",
            "inactivityTimeoutGroupsEnabled", "inactivityTimeoutGroupBundles" } do
          for _, v in ipairs(VALUES) do
            it(("%s = %s"):format(field, v.label), function()
              run_case(call, { [field] = v.value }, nil, FIELDS_OUT[field][v.key])
            end)
          end
        end
        local bundle = outcomes(set "table", function(got)
          return "timeout.inactivityTimeoutGroupBundles[1] must be a table, got " .. got
        end, { table = OK }) -- an empty bundle: the fake takes it
        for _, v in ipairs(VALUES) do
          it("a bundle that is " .. v.label, function()
            run_case(call, { inactivityTimeoutGroupBundles = { v.value } }, nil, bundle[v.key])
          end)
        end
        it("an unknown field raises", function()
          misuse(function() local a = invoke(target(), call, { idleTokenTimeout = 1800 }) return a end,
            "timeout: unknown field 'idleTokenTimeout'")
        end)
      end)

      describe("revoke_many(user_ids)", function()
        local call = CALLS[7]
        local out = outcomes(set "table", function(got)
          return "user_ids must be a table (a list of user ids), got " .. got
        end, { ["nil"] = raise "user_ids must be a table (a list of user ids), got nil", table = OK })
        for _, v in ipairs(VALUES) do
          it("user_ids: " .. v.label, function()
            if not out[v.key].ok then return run_case(call, v.value, nil, out[v.key]) end
            local results = assert(invoke(target(), call, v.value))
            assert.equal(0, #results)
            assert.equal(0, #fake.log())
          end)
        end

        -- A bad id between two good ones: its own result, no request.
        local problems = {
          ["nil"] = "user id must be a string, got nil", number = "user id must be a string, got number",
          boolean = "user id must be a string, got boolean", table = "user id must be a string, got table",
          func = "user id must be a string, got function", empty = "user id is empty",
          mib = "user id is too long", nul = "user id contains a control character",
          crlf = "user id contains a control character", negative = "user id must be a string, got number",
          nan = "user id must be a string, got number", inf = "user id must be a string, got number",
        }
        for _, v in ipairs(VALUES) do
          it("an id that is " .. v.label, function()
            local ids = { BOB, v.value, ALICE }
            local n = #ids -- 3, or 1 if the length operator stops at the nil
            local results = assert(invoke(target(), call, ids))
            assert.equal(n, #results)
            assert.is_true(results[1].ok)
            local sent = { "/api/v2/tokens/" .. BOB, "/api/v2/tokens/" .. ALICE }
            if n == 3 then
              local r = results[2]
              assert.is_false(r.ok)
              if v.key == "utf8" then
                assert.equal("http", r.err.kind) -- a valid id, sent percent-encoded
                assert.equal(404, r.err.status)
                table.insert(sent, 2, "/api/v2/tokens/%FF%FE")
              else
                assert.equal("invalid", r.err.kind)
                assert.equal(problems[v.key], r.err.message)
                assert.is_nil(r.attempts)
              end
              assert.is_true(results[3].ok)
            else
              sent[2] = nil
            end
            local got = {}
            for _, e in ipairs(api_log()) do got[#got + 1] = e.request_uri end
            table.sort(got)
            table.sort(sent)
            assert.same(sent, got)
          end)
        end
      end)

      if form == "client" then
        it("every method called as a function raises", function()
          for _, call in ipairs(CALLS) do
            for _, v in ipairs(VALUES) do
              misuse(function() local f = c[call.name] local a = f(v.value) return a end,
                ("%s must be called as a method (client:%s())"):format(call.name, call.name))
            end
          end
        end)
      end
    end)
  end

  ------------------------------------------------------------ faults

  describe("faults", function()
    local CODES = {
      [400] = "bad.request", [401] = "bad.credentials", [403] = "missing.permissions", [404] = "not.found",
      [405] = "method.not.allowed", [408] = "request.timeout", [409] = "conflict",
      [413] = "request.entity.too.large", [415] = "unsupported.media.type", [429] = "too.many.requests",
      [500] = "internal.server.error", [501] = "not.implemented", [502] = "bad.gateway",
      [503] = "service.unavailable", [504] = "gateway.timeout",
    }
    local SMALL_BUDGET = { max_attempts = 3, base_delay = 0.01, max_delay = 0.01, budget = 0.5 }

    -- Each row: the fault queued (or a client that cannot connect), the
    -- client's extra options, and the expected result: `expect` for every
    -- call, `head` for verify (HEAD reads no body), `delete` for revoke,
    -- revoke_me and revoke_many (a 2xx DELETE is done, whatever its body
    -- says), `bulk` for revoke_many alone. "ok" is a success, "object" a
    -- table the API sent. `requests` is how many reached the fake,
    -- `same = true` that the client cannot connect at all (the next call
    -- fails the same way).
    local FAULTS = {}
    for _, status in ipairs { 400, 401, 403, 404, 405, 408, 409, 413, 415, 429, 500, 501, 502, 503, 504 } do
      FAULTS[#FAULTS + 1] = {
        name = "status " .. status,
        -- With retry = false (these clients'), a 429 ends revoke_many's id
        -- as it ends a call: no pause, no second request.
        fault = { kind = "status", status = status, headers = status == 429 and { ["Retry-After"] = "0" } or nil },
        expect = { kind = "http", status = status, code = CODES[status] },
        head = { kind = "http", status = status, message = "empty response body" },
      }
    end
    local more = {
      { name = "429 forever, Retry-After over the budget", client = { retry = SMALL_BUDGET },
        fault = { kind = "429", retry_after = 1, times = 100 }, requests = 1, skip = { revoke_many = true },
        expect = { kind = "http", status = 429, code = "too.many.requests.retry.after", retry_after = 1 },
        head = { kind = "http", status = 429, retry_after = 1 } },
      { name = "429 forever, Retry-After 0", client = { retry = SMALL_BUDGET },
        fault = { kind = "429", retry_after = 0, times = 100 }, requests = 3, bulk_requests = 10,
        expect = { kind = "http", status = 429, code = "too.many.requests.retry.after", retry_after = 0 },
        head = { kind = "http", status = 429, retry_after = 0 } },
      { name = "truncated JSON", fault = { kind = "truncated_json" },
        expect = { kind = "decode", status = 200 }, head = "ok", delete = "ok" },
      { name = "an HTML error page", fault = { kind = "html", status = 502 },
        expect = { kind = "http", status = 502, message = "response body is not a platform error" },
        head = { kind = "http", status = 502, message = "empty response body" } },
      { name = "an HTML page with status 200", fault = { kind = "html", status = 200 },
        expect = { kind = "decode", status = 200 }, head = "ok", delete = "ok" },
      -- The fake cannot send a 200 with a body of our choosing; a status
      -- fault of 200 sends its ErrorBody: JSON of the wrong shape.
      { name = "JSON of the wrong shape (an ErrorBody with 200)", fault = { kind = "status", status = 200 },
        expect = "object", head = "ok", delete = "ok" },
      { name = "an empty 204 reply", fault = { kind = "status", status = 204 },
        expect = { kind = "decode", status = 204 }, head = "ok", delete = "ok" },
      { name = "an oversize body with Content-Length", client = { max_body = 64 * 1024 },
        fault = { kind = "huge", bytes = 256 * 1024 }, expect = { kind = "too_large", code = "too_large" }, head = "ok" },
      { name = "an oversize chunked body", client = { max_body = 64 * 1024 },
        fault = { kind = "huge", bytes = 256 * 1024, chunked = true },
        expect = { kind = "too_large", code = "too_large" }, head = "ok" },
      { name = "an oversize Content-Length on a trickle", client = { max_body = 64 * 1024, timeout = 2 },
        fault = { kind = "trickle", interval = 0.5, content_length = 10 * 1024 * 1024 },
        expect = { kind = "too_large" }, head = "ok" },
      { name = "a trickling body", client = { timeout = 0.3 }, fault = { kind = "trickle", interval = 0.1 },
        expect = { kind = "timeout", code = "CURLE_OPERATION_TIMEDOUT" }, head = "ok" },
      { name = "a reply too late", client = { timeout = 0.3 }, fault = { kind = "delay", seconds = 1 },
        expect = { kind = "timeout", code = "CURLE_OPERATION_TIMEDOUT" } },
      { name = "a reset (an empty reply)", fault = { kind = "reset" },
        expect = { kind = "network", code = "CURLE_GOT_NOTHING" } },
      { name = "a short body", fault = { kind = "short_body" },
        expect = { kind = "network", code = "CURLE_PARTIAL_FILE" }, head = "ok" },
      { name = "a redirect", fault = { kind = "redirect", status = 302 }, no_other = true,
        expect = { kind = "http", status = 302, message = "redirect not followed" } },
      { name = "a certificate from another CA", https = true, requests = 0, same = true,
        expect = { kind = "tls", code = "CURLE_PEER_FAILED_VERIFICATION" } },
      { name = "a refused connection", base_url = "http://127.0.0.1:1", requests = 0, same = true,
        expect = { kind = "network", code = "CURLE_COULDNT_CONNECT" } },
      -- Regression: errors.new scrubbed only `message`; `code` (from the body)
      -- and `correlation_id` (body or header) kept the token.
      { name = "an error that echoes the token in its code",
        fault = { kind = "status", status = 400, code = "x." .. TOKEN, message = "echo " .. TOKEN },
        expect = { kind = "http", status = 400 }, head = { kind = "http", status = 400 } },
      { name = "an error that echoes the token in its correlation id",
        fault = { kind = "html", status = 502, headers = { ["ININ-Correlation-Id"] = TOKEN } },
        expect = { kind = "http", status = 502 } },
    }
    for _, row in ipairs(more) do FAULTS[#FAULTS + 1] = row end

    local FAULT_CALLS = {
      { name = "me", run = function(c) return c:me() end },
      { name = "idle_timeout", run = function(c) return c:idle_timeout() end },
      { name = "set_idle_timeout", run = function(c) return c:set_idle_timeout { idleTokenTimeoutSeconds = 1800 } end },
      { name = "verify", head = true, run = function(c) return c:verify() end },
      { name = "revoke", delete = true, run = function(c) return c:revoke(BOB) end },
      { name = "revoke_me", delete = true, run = function(c) return c:revoke_me() end },
      { name = "revoke_many", delete = true, bulk = true, run = function(c)
          local results, err = c:revoke_many { BOB }
          assert(results, "revoke_many could not start: " .. tostring(err))
          local r = results[1]
          assert.equal(1, #results)
          if r.ok then return true, nil, r end
          return nil, r.err, r
        end },
    }

    local function expectation(row, call)
      if call.bulk and row.bulk then return row.bulk end
      if call.head and row.head then return row.head end
      if call.delete and row.delete then return row.delete end
      return row.expect
    end

    for _, row in ipairs(FAULTS) do
      describe(row.name, function()
        for _, call in ipairs(FAULT_CALLS) do
          if not (row.skip and row.skip[call.name]) then
            it(call.name, function()
              if row.fault then fake.fault(row.fault) end
              local entries = {}
              local opts = client_opts {
                log_level = "trace", log_bodies = true,
                logger = function(_, e) entries[#entries + 1] = e end,
              }
              if row.https then opts.base_url = srv.https_url end
              if row.base_url then opts.base_url = row.base_url end
              for k, v in pairs(row.client or {}) do opts[k] = v end
              local c = tokens.new(opts)

              local value, err = call.run(c)
              local exp = expectation(row, call)
              if exp == "ok" then
                assert(value == true, "expected success, got " .. shown(err))
              elseif exp == "object" then
                assert.is_table(value) -- any JSON object passes; its fields are the API's
                assert.is_nil(value.organization)
                assert.is_nil(value.idleTokenTimeoutSeconds)
              else
                if call.head and exp.status == 401 then assert.is_false(value) else assert.is_nil(value) end
                assert.is_true(errors.is(err), "not an error object: " .. shown(err))
                for k, v in pairs(exp) do assert.equal(v, err[k], k) end
                local line = tostring(err)
                assert.matches("^genesys%.tokens: " .. err.kind, line)
                assert.not_matches("[\r\n]", line)
                assert.same({}, leaks(line), "the token is in the error")
                assert.same({}, leaks(err), "the token is in the error's fields")
              end
              assert.same({}, leaks(entries), "the token is in a log entry")
              assert.is_true(#entries >= 1, "nothing was logged")

              local log = api_log()
              local requests = call.bulk and row.bulk_requests or row.requests
              if requests then assert.equal(requests, #log) end
              if row.no_other then
                for _, e in ipairs(fake.log()) do assert.not_equal("other", e.server) end
              end

              fake.reset() -- faults left over (429 forever) go too
              local again, err2 = call.run(c)
              if row.same then
                assert.falsy(again)
                assert.equal(err.kind, err2.kind)
                assert.equal(err.code, err2.code)
              else
                assert(again, "the next call failed: " .. shown(err2))
              end
              c:close()
            end)
          end
        end
      end)
    end
    -- An unresolvable host is not among the faults: resolving a name goes
    -- to the resolver of /etc/resolv.conf, a real DNS server off this
    -- machine, and the specs send traffic to loopback only.
  end)
end)
