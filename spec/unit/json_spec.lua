local json = require "genesys.tokens.json"
local cjson = require "cjson"

describe("json.decode_object", function()
  it("turns JSON null into an absent field, at every depth", function()
    local v = assert(json.decode_object(
      '{"a":null,"b":{"c":null,"d":1},"OAuthClient":{"id":"x","createdBy":null}}'))
    assert.is_nil(v.a)
    assert.same({ d = 1 }, v.b)
    assert.same({ id = "x" }, v.OAuthClient)
    for _, val in pairs(v) do assert.not_equal(cjson.null, val) end
  end)

  it("keeps arrays as sequences, dropping nulls in them", function()
    local v = assert(json.decode_object('{"s":["a",null,"b"],"e":[],"n":[null]}'))
    assert.same({ "a", "b" }, v.s)
    assert.same({}, v.e)
    assert.same({}, v.n)
  end)

  it("keys are case-sensitive (OAuthClient is not oAuthClient)", function()
    local v = assert(json.decode_object('{"OAuthClient":{"id":"1"}}'))
    assert.is_table(v.OAuthClient)
    assert.is_nil(v.oAuthClient)
  end)

  it("refuses what is not a JSON object", function()
    for text, pattern in pairs {
      ["{bad"] = "invalid JSON", [""] = "invalid JSON", ["<html>"] = "invalid JSON",
      ["[1,2]"] = "an array", ["3"] = "a number", ['"s"'] = "a string",
      ["null"] = "null", ["true"] = "a boolean",
    } do
      local v, err = json.decode_object(text)
      assert.is_nil(v, text)
      assert.matches(pattern, err)
    end
  end)

  it("refuses nesting deeper than 64 levels instead of recursing without bound", function()
    local deep = string.rep('{"a":', 200) .. "1" .. string.rep("}", 200)
    local v, err = json.decode_object(deep)
    assert.is_nil(v)
    assert.matches("invalid JSON", err)
  end)

  it("allows 64 levels of nesting, refuses 65 (a message, not a crash)", function()
    local ok = assert(json.decode_object(string.rep('{"a":', 64) .. "1" .. string.rep("}", 64)))
    assert.is_table(ok.a)
    local v, err = json.decode_object(string.rep('{"a":', 65) .. "1" .. string.rep("}", 65))
    assert.is_nil(v)
    assert.equal("invalid JSON: more than 64 nested arrays and objects at character 321", err)
    v, err = json.decode_object('{"a":' .. string.rep("[", 100000))
    assert.is_nil(v)
    assert.matches("more than 64 nested", err)
  end)

  it("names what is wrong and where, for each bad input tried", function()
    for text, message in pairs {
      [""] = "expected a value at the end of the text",
      ["   "] = "expected a value at the end of the text",
      ["{"] = "expected a string key at the end of the text",
      ['{"a"'] = "expected ':' at the end of the text",
      ['{"a":'] = "expected a value at the end of the text",
      ['{"a":1'] = "expected ',' or '}' at the end of the text",
      ['{"a":1,}'] = "expected a string key at character 8",
      ['{"a":[1,]}'] = "unexpected character at character 9",
      ['{"a":[1 2]}'] = "expected ',' or ']' at character 9",
      ["{a:1}"] = "expected a string key at character 2",
      ["{'a':1}"] = "expected a string key at character 2",
      ['{"a":1} x'] = "text after the JSON value at character 9",
      ['{"a":1}{}'] = "text after the JSON value at character 8",
      ['{"a":"x'] = "unfinished string at the end of the text",
      ['{"a":"x\\'] = "unfinished string at the end of the text",
      ['{"a":"\t"}'] = "control character in a string at character 7",
      ['{"a":"x\\ty\n"}'] = "control character in a string at character 11",
      ['{"a":"\\x"}'] = "invalid escape at character 7",
      ['{"a":"\\u12"}'] = "invalid \\u escape at character 7",
      ['{"a":"\\u12G4"}'] = "invalid \\u escape at character 7",
      ['{"a":"\\ud800"}'] = "lone high surrogate in a \\u escape at character 7",
      ['{"a":"\\ud800\\u0041"}'] = "lone high surrogate in a \\u escape at character 7",
      ['{"a":"\\udc00"}'] = "lone low surrogate in a \\u escape at character 7",
      ['{"a":01}'] = "expected ',' or '}' at character 7",
      ['{"a":-}'] = "invalid number at character 7",
      ['{"a":+1}'] = "unexpected character at character 6",
      ['{"a":1.}'] = "invalid number at character 8",
      ['{"a":.5}'] = "unexpected character at character 6",
      ['{"a":1e}'] = "invalid number at character 8",
      ['{"a":1e+}'] = "invalid number at character 9",
      ['{"a":0x10}'] = "expected ',' or '}' at character 7",
      ['{"a":NaN}'] = "unexpected character at character 6",
      ['{"a":Infinity}'] = "unexpected character at character 6",
      ['{"a":tru}'] = "unexpected character at character 6",
      ['{"a":nul}'] = "unexpected character at character 6",
      ['{"a":1} // note'] = "text after the JSON value at character 9",
      ["\239\187\191{}"] = "unexpected character at character 1", -- a byte-order mark
      ["{\0}"] = "expected a string key at character 2",
      ["<html>"] = "unexpected character at character 1",
    } do
      local v, err = json.decode_object(text)
      assert.is_nil(v, text)
      assert.equal("invalid JSON: " .. message, err, text)
    end
  end)

  it("unescapes strings, \\u escapes and surrogate pairs into UTF-8", function()
    local v = assert(json.decode_object(
      '{"s":"q\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t","u":"\\u0041\\u00e9\\u20ac\\ud83d\\ude00",'
      .. '"nul":"a\\u0000b","raw":"caf\195\169 \255","\\u006bey":1}'))
    assert.equal('q"b\\s/b\bf\fn\nr\rt\t', v.s)
    assert.equal("A\195\169\226\130\172\240\159\152\128", v.u)
    assert.equal("a\0b", v.nul)
    assert.equal("caf\195\169 \255", v.raw) -- bytes pass as they are
    assert.equal(1, v.key)
  end)

  it("fills tables past the batch sizes in order (objects of 16, arrays of 32)", function()
    for _, n in ipairs { 1, 15, 16, 17, 31, 32, 33, 64, 65, 1000 } do
      local keys, items = {}, {}
      for i = 1, n do
        keys[i] = ('"k%d":%d'):format(i, i)
        items[i] = (i % 3 == 0) and "null" or tostring(i)
      end
      local v = assert(json.decode_object("{" .. table.concat(keys, ",") .. ',"a":[' .. table.concat(items, ",") .. "]}"))
      for i = 1, n do assert.equal(i, v["k" .. i]) end
      local expected = {}
      for i = 1, n do if i % 3 ~= 0 then expected[#expected + 1] = i end end
      assert.same(expected, v.a)
    end
  end)

  it("lets a repeated key's last value win, a null one included", function()
    local v = assert(json.decode_object('{"a":1,"b":2,"a":3,"b":null}'))
    assert.equal(3, v.a)
    assert.is_nil(v.b)
  end)

  it("gives the same strings from its string cache as without it (core.decode_object(text, true))", function()
    local core = require "genesys.tokens.core"
    local function both(text)
      local plain, cached = assert(core.decode_object(text)), assert(core.decode_object(text, true))
      assert.same(plain, cached)
      return cached
    end
    -- Every length around the cache's limit of 40 bytes and its 8-byte
    -- words, as keys and values, escaped and not, twice (a miss, then a hit).
    for _ = 1, 2 do
      for n = 0, 42 do
        local s = ("%02d"):format(n):rep(21):sub(1, n)
        local v = both(('{"%s":"%s","e%s":"\\t%s","x":["%s"]}'):format(s, s, s, s, s))
        assert.equal(s, v[s])
        assert.equal("\t" .. s, v["e" .. s])
        assert.equal(s, v.x[1])
      end
    end
    -- Strings differing only in the middle, where the cache's hash does not
    -- look (first and last 8 bytes, length), share a set: each must still
    -- come back as itself, however they alternate.
    local a = "aaaaaaaa-1111-2222-3333-bbbbbbbbbbbb"
    local b = "aaaaaaaa-1111-XXXX-3333-bbbbbbbbbbbb"
    for _ = 1, 3 do
      local v = both(('{"a":"%s","b":"%s","c":["%s","%s","%s"]}'):format(a, b, b, a, b))
      assert.same({ a, b, { b, a, b } }, { v.a, v.b, v.c })
    end
    -- More distinct strings than the cache has slots (512).
    local parts = {}
    for i = 1, 2000 do parts[i] = ('"k%d":"v%d-%s"'):format(i, i * 7919 % 10007, ("z"):rep(i % 30)) end
    local text = "{" .. table.concat(parts, ",") .. "}"
    for _ = 1, 2 do
      local v = both(text)
      for i = 1, 2000, 97 do assert.equal(("v%d-%s"):format(i * 7919 % 10007, ("z"):rep(i % 30)), v["k" .. i]) end
    end
  end)

  it("takes big documents: 100,000 items, a 1 MiB string with escapes", function()
    local v = assert(json.decode_object('{"a":[' .. string.rep("1,", 99999) .. "1]}"))
    assert.equal(100000, #v.a)
    local long = string.rep("x\\n", 349525)
    v = assert(json.decode_object('{"s":"' .. long .. '"}'))
    assert.equal(string.rep("x\n", 349525), v.s)
  end)
end)

describe("json.decode_object numbers", function()
  it("gives whole numbers back as integers where Lua has them", function()
    local v = assert(json.decode_object('{"n":900,"f":1.5,"l":[1,2.25]}'))
    assert.equal("900", tostring(v.n))
    assert.equal(1.5, v.f)
    assert.equal("1", tostring(v.l[1]))
    if math.type then assert.equal("integer", math.type(v.n)) end
  end)

  it("turns whole numbers of any spelling into integers, keeps the rest floats", function()
    local v = assert(json.decode_object(
      '{"a":0,"b":-0,"c":1.0,"d":1e3,"e":-25E-1,"f":123456789012345,"g":1.5e300,"h":1e400,"i":-1e400,'
      .. '"j":1e-400,"k":12345678901234567890,"l":-9007199254740993}'))
    assert.equal(0, v.a)
    assert.equal(1, v.c)
    assert.equal(1000, v.d)
    assert.equal(-2.5, v.e)
    assert.equal(123456789012345, v.f)
    assert.equal(1.5e300, v.g)
    assert.equal(math.huge, v.h)
    assert.equal(-math.huge, v.i)
    assert.equal(0, v.j)
    assert.equal(1.2345678901234567e19, v.k)
    if math.type then
      for _, k in ipairs { "a", "b", "c", "d", "f", "j", "l" } do assert.equal("integer", math.type(v[k]), k) end
      for _, k in ipairs { "e", "g", "h", "i", "k" } do assert.equal("float", math.type(v[k]), k) end
    end
  end)

  it("reads numbers the same under a locale whose decimal point is a comma", function()
    -- A host may call os.setlocale; strtod then wants "1,5". A de_DE locale
    -- is built into a temporary folder (localedef, Debian's locales package)
    -- and a child interpreter decodes under it.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. " && localedef -i de_DE -f UTF-8 " .. dir .. "/de_DE.UTF-8 2>/dev/null"
      .. " || test -d " .. dir .. "/de_DE.UTF-8"))
    local script = io.open(dir .. "/decode.lua", "w")
    script:write("package.cpath = ", ("%q"):format(package.cpath), "\n", [[
      assert(os.setlocale("de_DE.UTF-8", "numeric") == "de_DE.UTF-8", "no de_DE locale")
      -- PUC Lua reads numbers with strtod too: proof that its point is ","
      assert(jit or tonumber("1,5") == 1.5, "strtod does not read a decimal comma")
      local core = require "genesys.tokens.core"
      local v = assert(core.decode_object('{"f":2.25,"g":-1.5e-3,"n":7}'))
      io.write(string.format("%d %d %d", v.f * 100, v.g * 1e5, v.n))
      io.stdout:flush()
    ]])
    script:close()
    -- Only stdout is compared (stderr is shown when it differs).
    local p = assert(io.popen(("LOCPATH=%s %s %s/decode.lua 2>%s/stderr"):format(dir, os.getenv("LUA") or "lua5.4",
      dir, dir)))
    local out = p:read("*a")
    p:close()
    local f = io.open(dir .. "/stderr")
    local stderr = f and f:read("*a") or ""
    if f then f:close() end
    os.execute("rm -rf " .. dir)
    assert.equal("225 -150 7", out, stderr)
  end)
end)
