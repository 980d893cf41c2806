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

  it("does not change the application's global cjson settings", function()
    local before = cjson.decode_max_depth()
    package.loaded["genesys.tokens.json"] = nil
    require "genesys.tokens.json"
    assert.equal(before, cjson.decode_max_depth())
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
end)
