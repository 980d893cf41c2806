-- User ids as operators write them: in a file or on standard input (a
-- UTF-8 BOM, CRLF line ends, blank lines and # comments), or as
-- arguments. An id that would be sent differently from how it reads (an
-- invisible or control character, bytes that are not UTF-8) is refused,
-- and shown with those characters escaped.
local ids = {}

-- Code points that print as nothing, or as a plain space: C1 controls,
-- no-break and other spaces, zero-width and direction marks, the braille
-- blank, variation selectors, the BOM, tags. Ranges of [first, last].
local INVISIBLE = {
  { 0x80, 0xA0 }, { 0xAD, 0xAD }, { 0x34F, 0x34F }, { 0x61C, 0x61C }, { 0x115F, 0x1160 },
  { 0x17B4, 0x17B5 }, { 0x180B, 0x180F }, { 0x2000, 0x200F }, { 0x2028, 0x202F },
  { 0x205F, 0x206F }, { 0x2800, 0x2800 }, { 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xFE00, 0xFE0F },
  { 0xFEFF, 0xFEFF }, { 0xFFA0, 0xFFA0 }, { 0xFFF0, 0xFFFB }, { 0x1D173, 0x1D17A },
  { 0xE0000, 0xE0FFF },
}

local function invisible(cp)
  for _, r in ipairs(INVISIBLE) do
    if cp >= r[1] and cp <= r[2] then return true end
  end
  return false
end

-- The next UTF-8 sequence of `s` at `i`: its code point and length, or
-- nil when the bytes there are not well-formed UTF-8.
local function decode(s, i)
  local b = s:byte(i)
  if b < 0x80 then return b, 1 end
  local n, min, cp
  if b >= 0xC2 and b <= 0xDF then n, min, cp = 2, 0x80, b - 0xC0
  elseif b >= 0xE0 and b <= 0xEF then n, min, cp = 3, 0x800, b - 0xE0
  elseif b >= 0xF0 and b <= 0xF4 then n, min, cp = 4, 0x10000, b - 0xF0
  else return nil end
  for k = i + 1, i + n - 1 do
    local c = s:byte(k)
    if not c or c < 0x80 or c > 0xBF then return nil end
    cp = cp * 64 + (c - 0x80)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
  return cp, n
end

-- `text` with every character that would not read as itself escaped
-- (\t, \x01, \u{200B}, and \xFF for a byte that is not UTF-8), and
-- what is wrong with it (nil when nothing is). With `as_id`, a space is a
-- problem and a backslash is doubled, so the escapes cannot be forged.
local function escaped(text, as_id)
  if not text:find("[^!-~]") and not text:find("\\", 1, true) then return text end -- visible ASCII
  local out, problem, i = {}, nil, 1
  while i <= #text do
    local cp, n = decode(text, i)
    local ch = text:sub(i, i + (n or 1) - 1)
    if not cp then
      out[#out + 1] = ("\\x%02X"):format(text:byte(i))
      problem = problem or "bytes that are not UTF-8"
    elseif cp < 0x20 or cp == 0x7F then
      out[#out + 1] = cp == 9 and "\\t" or cp == 13 and "\\r" or ("\\x%02X"):format(cp)
      problem = problem or "a control character"
    elseif cp == 0x20 then
      out[#out + 1] = " "
      if as_id then problem = problem or "a space (one id a line)" end
    elseif invisible(cp) then
      out[#out + 1] = ("\\u{%04X}"):format(cp)
      problem = problem or ("an invisible character (U+%04X)"):format(cp)
    else
      out[#out + 1] = as_id and ch == "\\" and "\\\\" or ch
    end
    i = i + (n or 1)
  end
  return table.concat(out), problem
end

--- An id as it is shown (its invisible characters escaped), and what is
-- wrong with it: nil when it reads as it would be sent.
function ids.check(id) return escaped(id, true) end

--- Text from elsewhere (a server's names, an error) made safe to print:
-- no control sequence, direction override or invisible character.
function ids.visible(text) return (escaped(text, false)) end

--- The ids in the text of an ids file, in order: a leading BOM dropped,
-- each line without its CR, blanks and comments ("# ..." on a line of its
-- own, or after a space or tab) skipped, surrounding blanks trimmed.
function ids.parse(text, into)
  into = into or {}
  text = text:gsub("^\239\187\191", "")
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", ""):gsub("^[ \t]*#.*$", ""):gsub("[ \t]+#.*$", "")
    local id = line:match("^[ \t]*(.-)[ \t]*$")
    if id ~= "" then into[#into + 1] = id end
  end
  return into
end

--- Reads the ids of a file, or of standard input when `path` is "-".
-- Returns the list, or nil and why not.
function ids.read(path, into)
  local f, err = io.stdin, nil
  if path ~= "-" then f, err = io.open(path, "rb") end
  if not f then return nil, err end
  local text
  text, err = f:read("*a")
  if f ~= io.stdin then f:close() end
  if not text then return nil, path .. ": " .. tostring(err) end
  return ids.parse(text, into)
end

return ids
