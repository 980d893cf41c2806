-- The Genesys Cloud regions: a name in any of the forms people use
-- ("us-east-1", "us_east_1", "mypurecloud.com", "api.mypurecloud.com")
-- becomes the API base URL https://api.<domain>.
local errors = require "genesys.tokens.errors"

local regions = {}

-- AWS-style key -> domain, as the official SDKs enumerate them.
local DOMAINS = {
  us_east_1 = "mypurecloud.com",
  eu_west_1 = "mypurecloud.ie",
  ap_southeast_2 = "mypurecloud.com.au",
  ap_northeast_1 = "mypurecloud.jp",
  eu_central_1 = "mypurecloud.de",
  us_west_2 = "usw2.pure.cloud",
  ca_central_1 = "cac1.pure.cloud",
  ap_northeast_2 = "apne2.pure.cloud",
  eu_west_2 = "euw2.pure.cloud",
  ap_south_1 = "aps1.pure.cloud",
  us_east_2 = "use2.us-gov-pure.cloud",
  sa_east_1 = "sae1.pure.cloud",
  me_central_1 = "mec1.pure.cloud",
  ap_northeast_3 = "apne3.pure.cloud",
  eu_central_2 = "euc2.pure.cloud",
  mx_central_1 = "mxc1.pure.cloud",
  ap_southeast_1 = "apse1.pure.cloud",
}
regions.DOMAINS = DOMAINS

local BY_DOMAIN = {}
for _, domain in pairs(DOMAINS) do BY_DOMAIN[domain] = true end

--- The names accepted, sorted, for messages and docs.
function regions.names()
  local names = {}
  for key in pairs(DOMAINS) do names[#names + 1] = (key:gsub("_", "-")) end
  table.sort(names)
  return names
end

--- The domain of a region, or nil when `name` is none of them.
function regions.domain(name)
  local s = name:lower():gsub("^https://", ""):gsub("/+$", "")
  local domain = DOMAINS[(s:gsub("%-", "_"))]
  if domain then return domain end
  s = s:gsub("^api%.", "")
  if BY_DOMAIN[s] then return s end
  return nil
end

--- The API base URL for a region name, or nil and a message.
-- A host beginning with "api." that is not in the table (a region newer
-- than this list) is taken as it is.
function regions.base_url(name)
  if #name > 253 then return nil, "region is too long to be a host name" end
  local domain = regions.domain(name)
  if domain then return "https://api." .. domain end
  local host = name:lower():gsub("^https://", ""):gsub("/+$", "")
  if host:match("^api%.[%w%-]+%.[%w%.%-]+$") and not host:find("%.%.") then
    return "https://" .. host
  end
  return nil, ("unknown region '%s' (use one of %s, a domain such as "
    .. "mypurecloud.ie, or an API host such as api.mypurecloud.ie)")
    :format(errors.shown(name), table.concat(regions.names(), ", "))
end

return regions
