#!/bin/sh
# Installs the Debian packages the build, tests and demo need, only when one
# is missing (so it is quick and quiet when everything is there).
set -eu

# LuaJIT comes from the OpenResty branch (luajit2): nginx's Lua module
# depends on it, and it conflicts with Debian's plain libluajit.
PACKAGES="gcc make pkg-config libcurl4-openssl-dev \
lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev lua5.4 liblua5.4-dev \
luajit2 libluajit2-5.1-dev lua-cjson lua-socket lua-sec lua-busted lua-check lua-ldoc luarocks \
nginx libnginx-mod-http-lua lua-resty-core openssl ca-certificates valgrind locales"

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "deps: missing packages:$missing; install them as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
