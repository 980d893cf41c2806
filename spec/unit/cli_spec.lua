-- The command's pure parts, on every Lua version: ids as operators write
-- them, the flags of each command and their environment variables, and
-- the report's records and resume.
local flags = require "genesys.tokens.cli.flags"
local ids = require "genesys.tokens.cli.ids"
local report = require "genesys.tokens.cli.report"
local json = require "genesys.tokens.json"

describe("cli.ids", function()
  it("parses a BOM, CRLF, blank lines and comments", function()
    assert.same({ "a", "b", "c", "d#e", "f" }, ids.parse("\239\187\191a\r\n\r\n# x\r\n  b # y\r\n\tc\t#z\nd#e\n  #\nf"))
    assert.same({}, ids.parse(""))
    assert.same({}, ids.parse("\239\187\191"))
    assert.same({ "x\239\187\191" }, ids.parse("x\239\187\191\n"), "a BOM not at the start stays (and is refused)")
  end)

  it("escapes what would not read as itself, and says what is wrong", function()
    for input, want in pairs {
      ["plain-id"] = { "plain-id" },
      ["caf\195\169"] = { "caf\195\169" }, -- a visible non-ASCII letter is fine
      ["a\226\128\139b"] = { "a\\u{200B}b", "an invisible character (U+200B)" },
      ["\194\160a"] = { "\\u{00A0}a", "an invisible character (U+00A0)" },
      ["a\239\187\191"] = { "a\\u{FEFF}", "an invisible character (U+FEFF)" },
      ["a\194\133"] = { "a\\u{0085}", "an invisible character (U+0085)" },
      ["a\243\160\128\129"] = { "a\\u{E0001}", "an invisible character (U+E0001)" },
      ["a\tb"] = { "a\\tb", "a control character" },
      ["a\rb"] = { "a\\rb", "a control character" },
      ["a\127"] = { "a\\x7F", "a control character" },
      ["a\255"] = { "a\\xFF", "bytes that are not UTF-8" },
      ["a\192\175"] = { "a\\xC0\\xAF", "bytes that are not UTF-8" }, -- overlong '/'
      ["a\237\160\128"] = { "a\\xED\\xA0\\x80", "bytes that are not UTF-8" }, -- a surrogate
      ["a\226\128"] = { "a\\xE2\\x80", "bytes that are not UTF-8" }, -- cut short
      ["a b"] = { "a b", "a space (one id a line)" },
      ["back\\slash"] = { "back\\\\slash" },
    } do
      local shown, problem = ids.check(input)
      assert.equal(want[1], shown, input)
      assert.equal(want[2], problem, input)
    end
  end)
end)

describe("cli.ids.visible", function()
  it("escapes what could pose as output, and keeps spaces, letters and backslashes", function()
    assert.equal([[Acme\x1B[31m Corp]], ids.visible("Acme\27[31m Corp"))
    assert.equal([[a\x0Ab \u{202E}c\d caf]] .. "\195\169", ids.visible("a\nb \226\128\174c\\d caf\195\169"))
  end)
end)

describe("cli.flags", function()
  local function env(t) return function(name) return t[name] end end

  it("parses --name value and --name=value, refusing what it does not know without echoing it", function()
    local given, words = flags.parse { "--region", "eu-west-1", "me", "--json", "--timeout=3" }
    assert.same({ region = "eu-west-1", json = true, timeout = "3" }, given)
    assert.same({ "me" }, words)
    for _, case in ipairs {
      { { "-token=SECRETVALUE" }, "unknown option %-token %(did you mean %-%-token%?%)" },
      { { "--client_secret=SECRETVALUE" }, "did you mean %-%-client%-secret" },
      { { "--tokenSECRETVALUE" }, "unknown option %-%-token%.%.%. in argument 1" },
      { { "me", "-xSECRETVALUE" }, "argument 2 is not an option" },
      { { "--frob" }, "unknown option %-%-frob" },
      { { "--json=SECRETVALUE" }, "%-%-json takes no value" },
      { { "--token" }, "%-%-token needs a value" },
      { { "--token=a", "--token=b" }, "given twice" },
    } do
      local ok, message = flags.parse(case[1])
      assert.is_nil(ok)
      assert.matches(case[2], message)
      assert.is_nil(message:find("SECRETVALUE", 1, true), message)
    end
  end)

  it("resolves each command's own options, from flags or else the environment", function()
    local s, source = flags.resolve("revoke", { concurrency = "4" },
      env { GENESYS_TOKENS_QUIET = "yes", GENESYS_TOKENS_REPORT = "r.jsonl", GENESYS_TOKENS_CONCURRENCY = "9",
        GENESYS_TOKENS_JSON = "1" })
    assert.same({ concurrency = "4", quiet = true, report = "r.jsonl" }, s)
    assert.same({ concurrency = "flag", quiet = "env", report = "env" }, source)
    s = flags.resolve("me", {}, env { GENESYS_TOKENS_JSON = "off" })
    assert.is_nil(s.json)
    assert.same({ nil, "verify does not take --json" }, { flags.resolve("verify", { json = true }, env {}) })
    assert.same({ nil, "GENESYS_TOKENS_JSON must be 1 or 0 (true or false)" },
      { flags.resolve("me", {}, env { GENESYS_TOKENS_JSON = "maybe" }) })
  end)

  it("completes credentials from the environment with their own kind only", function()
    local function client(given, environment)
      local s, source = flags.resolve("me", given, env(environment))
      return flags.client_options(s, source)
    end
    local both = { GENESYSCLOUD_ACCESS_TOKEN = "tok", GENESYSCLOUD_OAUTHCLIENT_ID = "id",
      GENESYSCLOUD_OAUTHCLIENT_SECRET = "sec" }
    local o = client({ client_id = "flag-id" }, both)
    assert.equal("flag-id", o.client_id)
    assert.equal("sec", o.client_secret)
    assert.is_nil(o.access_token)
    o = client({ access_token = "flag-tok" }, both)
    assert.equal("flag-tok", o.access_token)
    assert.is_nil(o.client_id)
    o = client({}, both)
    assert.equal("tok", o.access_token)
    assert.is_nil(o.client_secret)
    o = client({ region = "eu-west-1" }, { GENESYSCLOUD_BASE_URL = "https://x" })
    assert.equal("eu-west-1", o.region)
    assert.is_nil(o.base_url)
    assert.same({ nil, "give --region or --base-url, not both" },
      { client({ region = "eu-west-1", base_url = "https://x" }, {}) })
  end)

  it("names options as flags, or as the variable a value came from", function()
    assert.equal("--concurrency", flags.named("concurrency", {}))
    assert.equal("GENESYS_TOKENS_CONCURRENCY", flags.named("concurrency", { concurrency = "env" }))
    assert.equal("GENESYSCLOUD_ACCESS_TOKEN", flags.named("access_token", { access_token = "env" }))
    assert.equal("refusing plain http:// (use https, or --allow-http); --client-id and --client-secret go together;"
      .. " --log-level must be; user_id stays",
      flags.spelled_as_flags("refusing plain http:// (use https, or allow_http = true); client_id and client_secret"
        .. " go together; log_level must be; user_id stays"))
  end)

  it("lists the secrets to keep out of output", function()
    local s = flags.resolve("me", { access_token = "t0k", proxy = "http://u:p@h" },
      env { GENESYSCLOUD_OAUTHCLIENT_SECRET = "s3c" })
    local list = flags.secrets(s)
    table.sort(list)
    assert.same({ "http://u:p@h", "s3c", "t0k" }, list)
  end)
end)

describe("cli.report", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  local function write_text(text)
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
  end
  local function read_text()
    local f = assert(io.open(path, "rb"))
    local text = f:read("*a")
    f:close()
    return text
  end

  it("records are whole JSON lines", function()
    local line = report.line("u\"1", false, { kind = "http", status = 404, code = "not.found", message = "x\ny" })
    assert.equal("\n", line:sub(-1))
    local e = json.decode_object(line:sub(1, -2))
    assert.same({ "u\"1", false, "http", 404, "not.found", "x\ny" }, { e.id, e.ok, e.kind, e.status, e.code, e.message })
  end)

  it("starts a new line after a cut one, and resume ignores the cut one", function()
    write_text('{"id":"a","ok":true}\n{"id":"b","ok":tr')
    local w = assert(report.open(path))
    assert(w.write(report.line("c", true)))
    assert(w.write(report.line("d", true)))
    assert(w.close())
    local lines = {}
    for l in read_text():gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(4, #lines)
    assert.equal('{"id":"b","ok":tr', lines[2])
    local done, n = report.done(path)
    assert.equal(3, n)
    assert.same({ a = true, c = true, d = true }, done)
  end)

  it("a missing report is empty; a directory is an error", function()
    os.remove(path)
    assert.same({ {}, 0 }, { report.done(path) })
    assert.is_nil(io.open(path, "rb"), "done() created the file")
    local none, err = report.done("/")
    assert.is_nil(none)
    assert.matches("Is a directory", err)
  end)

  it("a write error is returned, and again by every later write and the close", function()
    local w = assert(report.open("/dev/full"))
    local ok, err = w.write(report.line("a", true))
    assert.is_nil(ok)
    assert.matches("^/dev/full: .*No space left on device", err)
    assert.same({ nil, err }, { w.write(report.line("b", true)) })
    assert.same({ nil, err }, { w.close() })
  end)
end)
