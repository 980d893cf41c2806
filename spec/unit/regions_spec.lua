local regions = require "genesys.tokens.regions"

describe("regions", function()
  local expected = {
    ["us-east-1"] = "mypurecloud.com", ["eu-west-1"] = "mypurecloud.ie",
    ["ap-southeast-2"] = "mypurecloud.com.au", ["ap-northeast-1"] = "mypurecloud.jp",
    ["eu-central-1"] = "mypurecloud.de", ["us-west-2"] = "usw2.pure.cloud",
    ["ca-central-1"] = "cac1.pure.cloud", ["ap-northeast-2"] = "apne2.pure.cloud",
    ["eu-west-2"] = "euw2.pure.cloud", ["ap-south-1"] = "aps1.pure.cloud",
    ["us-east-2"] = "use2.us-gov-pure.cloud", ["sa-east-1"] = "sae1.pure.cloud",
    ["me-central-1"] = "mec1.pure.cloud", ["ap-northeast-3"] = "apne3.pure.cloud",
    ["eu-central-2"] = "euc2.pure.cloud", ["mx-central-1"] = "mxc1.pure.cloud",
    ["ap-southeast-1"] = "apse1.pure.cloud",
  }

  it("knows all 17 regions", function()
    local n = 0
    for _ in pairs(expected) do n = n + 1 end
    assert.equal(17, n)
    assert.equal(17, #regions.names())
  end)

  for name, domain in pairs(expected) do
    it("resolves " .. name .. " by AWS-style name, SDK-style name, domain and API host", function()
      local want = "https://api." .. domain
      assert.equal(want, (regions.base_url(name)))
      assert.equal(want, (regions.base_url((name:gsub("%-", "_")))))
      assert.equal(want, (regions.base_url(name:upper())))
      assert.equal(want, (regions.base_url(domain)))
      assert.equal(want, (regions.base_url("api." .. domain)))
      assert.equal(want, (regions.base_url("https://api." .. domain .. "/")))
    end)
  end

  it("takes an api. host it does not know as it is (a newer region)", function()
    assert.equal("https://api.edee1.eusc-pure.cloud", (regions.base_url("api.edee1.eusc-pure.cloud")))
  end)

  it("refuses names that are no region, saying which are", function()
    for _, bad in ipairs { "mars-1", "", "us-east", "api.", "api..com", "api.x/y", "http://api.mypurecloud.com" } do
      local url, err = regions.base_url(bad)
      assert.is_nil(url, bad)
      assert.matches("unknown region", err)
      assert.matches("us%-east%-1", err)
    end
  end)
end)
