local idle_timeout = require "genesys.tokens.idle_timeout"
local cjson = require "cjson"

describe("IdleTokenTimeout encoding", function()
  it("encodes every field, lists as JSON arrays even when empty", function()
    local body = assert(idle_timeout.encode {
      idleTokenTimeoutSeconds = 900, enableIdleTokenTimeout = true,
      inactivityTimeoutUnit = "Minutes", inactivityTimeoutGroupsEnabled = false,
      inactivityTimeoutGroupBundles = {
        { priority = 1, timeoutSeconds = 600, inactivityTimeoutUnit = "Minutes", groups = { "g-1", "g-2" } },
        { priority = 2, timeoutSeconds = 3600, inactivityTimeoutUnit = "Hours", groups = {} },
      },
    })
    assert.equal('{"enableIdleTokenTimeout":true,"idleTokenTimeoutSeconds":900,"inactivityTimeoutGroupBundles":'
      .. '[{"groups":["g-1","g-2"],"inactivityTimeoutUnit":"Minutes","priority":1,"timeoutSeconds":600},'
      .. '{"groups":[],"inactivityTimeoutUnit":"Hours","priority":2,"timeoutSeconds":3600}],'
      .. '"inactivityTimeoutGroupsEnabled":false,"inactivityTimeoutUnit":"Minutes"}', body)
    assert.is_table(cjson.decode(body))
    assert.equal('{"inactivityTimeoutGroupBundles":[]}', idle_timeout.encode { inactivityTimeoutGroupBundles = {} })
    assert.equal("{}", idle_timeout.encode {})
  end)

  it("sends whole numbers without a fraction, on every Lua", function()
    assert.equal('{"idleTokenTimeoutSeconds":28800}', idle_timeout.encode { idleTokenTimeoutSeconds = 28800.0 })
  end)

  it("escapes strings", function()
    assert.equal('{"inactivityTimeoutUnit":"a\\"b\\\\c\\n"}', idle_timeout.encode { inactivityTimeoutUnit = 'a"b\\c\n' })
  end)

  it("names the bad field: wrong types, fractions, NaN, unknown fields, sparse lists", function()
    for value, pattern in pairs {
      [5] = "timeout must be a table, got number",
      [{ idleTokenTimeoutSeconds = "900" }] = "timeout.idleTokenTimeoutSeconds must be a whole number",
      [{ idleTokenTimeoutSeconds = 90.5 }] = "timeout.idleTokenTimeoutSeconds must be a whole number",
      [{ idleTokenTimeoutSeconds = 0 / 0 }] = "timeout.idleTokenTimeoutSeconds must be a whole number",
      [{ idleTokenTimeoutSeconds = 1 / 0 }] = "timeout.idleTokenTimeoutSeconds must be a whole number",
      [{ enableIdleTokenTimeout = "yes" }] = "timeout.enableIdleTokenTimeout must be a boolean",
      [{ idleTokenTimeoutSecs = 900 }] = "timeout: unknown field 'idleTokenTimeoutSecs'",
      [{ inactivityTimeoutGroupBundles = { x = {} } }] = "inactivityTimeoutGroupBundles must be a list",
      [{ inactivityTimeoutGroupBundles = { [2] = {} } }] = "inactivityTimeoutGroupBundles must be a list",
      [{ inactivityTimeoutGroupBundles = { 5 } }] = "inactivityTimeoutGroupBundles%[1%] must be a table",
      [{ inactivityTimeoutGroupBundles = { { prio = 1 } } }] = "inactivityTimeoutGroupBundles%[1%]: unknown field 'prio'",
      [{ inactivityTimeoutGroupBundles = { { groups = { 1 } } } }] = "groups must be a list of group id strings",
      [{ inactivityTimeoutGroupBundles = { {}, { priority = 1.5 } } }] = "%[2%]%.priority must be a whole number",
    } do
      local body, err = idle_timeout.encode(value)
      assert.is_nil(body)
      assert.matches(pattern, err)
    end
  end)
end)
