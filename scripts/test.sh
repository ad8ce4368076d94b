#!/usr/bin/env bash
# The test command (README step 2): make sure the headless browser used by the report tests is there
# (Debian's chromium and chromium-driver), then run the whole test suite.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing chromium and chromium-driver (Debian packages) for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null || {
    echo "could not install chromium: the browser tests will fail"; }
fi
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose"
  exit 1
fi
exit "$rc"
