#!/usr/bin/env bash
# Installs Debian's Chromium and its matching ChromeDriver, which the console's browser tests
# drive headless. Does nothing when both are there. Without the rights to install (not root,
# no sudo) it says so and leaves the browser tests to skip; CI, which must run them, fails.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
packages=(chromium chromium-driver)
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-browser: cannot install ${packages[*]} without root; the browser tests will skip" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet, or stale ones: refresh them once if needed.
"${as_root[@]}" apt-get install -y -q "${packages[@]}" >/dev/null ||
  { "${as_root[@]}" apt-get update -q >/dev/null && "${as_root[@]}" apt-get install -y -q "${packages[@]}" >/dev/null; }
/usr/bin/chromium --version
