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
    assert.matches("^invalid JSON: .*nested", err)
    v, err = json.decode_object('{"a":' .. string.rep("[", 100000))
    assert.is_nil(v)
    assert.matches("^invalid JSON: .*nested", err)
  end)

  it("refuses every bad input tried with 'invalid JSON' and lua-cjson's words for it", function()
    for _, text in ipairs {
      "", "   ", "{", '{"a"', '{"a":', '{"a":1', '{"a":1,}', '{"a":[1,]}', '{"a":[1 2]}', "{a:1}", "{'a':1}",
      '{"a":1} x', '{"a":1}{}', '{"a":"x', '{"a":"x\\', '{"a":"\\x"}', '{"a":"\\u12"}',
      '{"a":"\\u12G4"}', '{"a":01}', '{"a":-}', '{"a":+1}', '{"a":.5}', '{"a":1e}', '{"a":1e+}',
      '{"a":0x10}', '{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', '{"a":tru}', '{"a":nul}', '{"a":1} // note',
      "\239\187\191{}", "{\0}", "<html>", '{"a":"\\ud800"}', '{"a":"\\udc00"}', '{"a":"x\0y"}',
    } do
      local v, err = json.decode_object(text)
      assert.is_nil(v, text)
      assert.matches("^invalid JSON: %S", err, text)
    end
  end)

  it("takes what lua-cjson takes beyond RFC 8259 (README: the decoder)", function()
    assert.same({ a = "\t" }, json.decode_object('{"a":"\t"}')) -- a raw control character in a string
    assert.same({ a = 1 }, json.decode_object('{"a":1.}')) -- a number ending in its point
    assert.same({ a = 1 }, json.decode_object('{"a":1}\0 and anything')) -- the text ends at a NUL
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

  it("closes arrays up around their nulls, whatever their length", function()
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
      .. '"j":1e-400,"k":12345678901234567890,"l":-9007199254740993,"m":9007199254740993}'))
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
    -- lua-cjson reads every number as a double: past 2^53 a whole number
    -- comes back as the nearest double (made an integer where Lua has them).
    assert.equal(-9007199254740992, v.l)
    assert.equal(9007199254740992, v.m)
    if math.type then
      for _, k in ipairs { "a", "b", "c", "d", "f", "j", "l", "m" } do assert.equal("integer", math.type(v[k]), k) end
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
    script:write("package.path = ", ("%q"):format(package.path), "\n", [[
      assert(os.setlocale("de_DE.UTF-8", "numeric") == "de_DE.UTF-8", "no de_DE locale")
      -- PUC Lua reads numbers with strtod too: proof that its point is ","
      assert(jit or tonumber("1,5") == 1.5, "strtod does not read a decimal comma")
      local json = require "genesys.tokens.json"
      local v = assert(json.decode_object('{"f":2.25,"g":-1.5e-3,"n":7}'))
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
