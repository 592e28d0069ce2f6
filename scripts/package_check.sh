#!/usr/bin/env bash
# Every crate packages, and builds from its package alone.
#
# 1. `cargo package --workspace --no-verify`: one .crate per crate in
#    target/package (verifying would build each crate once more; step 3
#    builds them all once).
# 2. Unpacks them in a temporary directory outside the repository, so that
#    nothing the packages left out (schemas/, a sibling crate by path) can
#    be reached.
# 3. Builds, in one debug `cargo build --offline`, a small crate that uses
#    kho (with its derive and a same_layout_as check against a shipped ABI)
#    and kho-schema, and the kho-abi binary (what `cargo install kho-abi`
#    builds), each kho crate taken from its unpacked package by
#    [patch.crates-io]. The workspace's Cargo.lock pins the same external
#    versions. Its own target directory (target/package-check), so that the
#    packaged kho-abi binary does not replace the workspace's in
#    target/debug; kept between runs, so only a change rebuilds.
#
# Also asserts the dependency seams: `kho` (normal edges) builds no toml,
# winnow or serde_spanned, and the workspace builds one syn major
# (`cargo tree -d -e normal --workspace`).
#
# Usage: scripts/package_check.sh   (from anywhere; exit 0 when all hold)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

fail() {
    echo "package_check: $*" >&2
    exit 1
}

echo "== cargo tree: kho builds no TOML parser"
tree="$(cargo tree -q -p kho -e normal --prefix none)"
if leaked="$(grep -E '^(toml|toml_[a-z_]+|winnow|serde_spanned) ' <<<"$tree")"; then
    fail "kho depends on the schema compiler's parser crates:"$'\n'"$leaked"
fi

echo "== cargo tree: one syn major in the workspace"
# Every crate of the workspace, tools included (kho-abi's clap and serde
# derives, kho-schema's prettyplease), builds one syn major. `--workspace`:
# without it `cargo tree` shows only the root package, kho. The same syn
# version may be listed twice by -d (once built for the host, for the proc
# macros, once for the target, with other features): that is one major.
dups="$(cargo tree -q -d -e normal --workspace --depth 0)"
syn_majors="$(sed -n 's/^syn v\([0-9]*\)\..*/\1/p' <<<"$dups" | sort -u)"
if [ "$(grep -c . <<<"$syn_majors")" -gt 1 ]; then
    fail "cargo tree -d -e normal --workspace: more than one syn major: $(tr '\n' ' ' <<<"$syn_majors")"$'\n'"$(cargo tree -q -d -e normal --workspace)"
fi

echo "== cargo package --workspace"
rm -f target/package/*.crate
cargo package --workspace --no-verify --offline --allow-dirty -q

scratch="$(mktemp -d "${TMPDIR:-/tmp}/kho-package-check.XXXXXX")"
trap '[ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$scratch"' EXIT
mkdir "$scratch/crates"
# -m: the files get the time of extraction, not the archive's. The scratch
# workspace's layout is the same every run, so cargo keys the kho crates'
# builds in target/package-check the same way; with the archive's (older)
# times it would take last run's build for fresh.
for crate in target/package/*.crate; do
    tar -xzmf "$crate" -C "$scratch/crates"
done
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
for name in kho kho-layout kho-derive kho-runtime kho-schema kho-import kho-abi; do
    [ -f "$scratch/crates/$name-$version/Cargo.toml" ] ||
        fail "no package for $name $version in target/package"
done

echo "== build against the packaged sources (outside the repository)"
mkdir -p "$scratch/user/src"
cat >"$scratch/Cargo.toml" <<EOF
[workspace]
members = ["user", "crates/kho-abi-$version"]
resolver = "2"

[patch.crates-io]
kho = { path = "crates/kho-$version" }
kho-layout = { path = "crates/kho-layout-$version" }
kho-derive = { path = "crates/kho-derive-$version" }
kho-runtime = { path = "crates/kho-runtime-$version" }
kho-schema = { path = "crates/kho-schema-$version" }
kho-import = { path = "crates/kho-import-$version" }
EOF
cat >"$scratch/user/Cargo.toml" <<EOF
[package]
name = "kho-package-user"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
kho = "=$version"
kho-schema = "=$version"
EOF
cat >"$scratch/user/src/main.rs" <<'EOF'
use kho::{BlockSet, CharArray, KhoEntry, SimMemory};

#[derive(KhoEntry, Clone, Copy)]
#[repr(C, packed)]
#[kho(compatible = "luo-v4-kho-block-v1", same_layout_as = kho::abi::luo::LuoFileSer)]
struct LuoFileSer {
    name: CharArray<48>,
    data: u64,
    token: u64,
}

fn main() -> kho::Result<()> {
    let mut mem = SimMemory::new(0x10_0000, 4096, 4)?;
    let mut set = BlockSet::<LuoFileSer, _>::new(&mem)?;
    let file = LuoFileSer { name: CharArray::new("memfd:a")?, data: 1, token: 2 };
    set.push(&mut mem, &file)?;
    let head = set.publish(&mut mem)?;
    let mem = mem.kexec();
    assert_eq!(BlockSet::<LuoFileSer, _>::restore(&mem, head)?.len(), 1);
    let _ = kho_schema::compile;
    println!("packaged kho works: {} bytes per entry", <LuoFileSer as KhoEntry>::SIZE);
    Ok(())
}
EOF
cp Cargo.lock "$scratch/Cargo.lock"
(
    cd "$scratch"
    CARGO_TARGET_DIR="$repo/target/package-check" cargo build --offline -q
    "$repo/target/package-check/debug/kho-package-user"
    "$repo/target/package-check/debug/kho-abi" --version
)
echo "package_check: ok"
