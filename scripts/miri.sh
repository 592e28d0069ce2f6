#!/usr/bin/env bash
# Runs kho-runtime's unit tests under Miri (nightly), which checks the safe
# code paths for undefined behaviour. Only the unit tests (--lib): the
# integration tests map files, spawn processes or build 40 MB images, which
# Miri either cannot do or would take hours over.
#
# Exits 0 with a "skipped" line when no nightly toolchain with Miri can be
# had, so CI can call it everywhere and say what happened.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup +nightly component add miri rust-src >/dev/null 2>&1 || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: SKIPPED: no nightly toolchain with the miri component on this machine"
    exit 0
fi
echo "miri: $(cargo +nightly miri --version)"
cargo +nightly miri test -p kho-runtime --lib "$@"
