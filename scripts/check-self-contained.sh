#!/bin/sh
# Proves that a clone of the repository alone passes the tests that read test data and cites no document outside
# it: clones HEAD into a fresh temporary folder (nothing beside it), links this checkout's node_modules, and runs
# those suites there. test/self-contained.test.ts fails on a cited file name that is not in the repository (a
# reference note kept beside it, a documentation page's source file), a section sign without an RFC, a link to a
# missing file, and a docs/…#anchor whose heading does not exist.
# Usage: scripts/check-self-contained.sh [test files…]   (default: the emulator contract and docs-sample suites)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone --quiet "$here" "$tmp/repo"
git -C "$tmp/repo" checkout --quiet "$(git -C "$here" rev-parse HEAD)"
ln -s "$(readlink -f "$here/node_modules")" "$tmp/repo/node_modules"
cd "$tmp/repo"
[ ! -e ../shared ] || { echo "unexpected ../shared beside the clone" >&2; exit 1; }
if [ $# -eq 0 ]; then
  set -- test/self-contained.test.ts $(ls test/bitrix24-emulator/*.test.ts test/xero-emulator/*.test.ts)
fi
node --import tsx --test --test-concurrency=1 "$@"
