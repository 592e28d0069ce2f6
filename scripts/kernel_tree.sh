#!/usr/bin/env bash
# Runs the README's "Using kho on a kernel tree" commands, as written there,
# in a real kernel header tree: the kernel's own compiler_types.h,
# kconfig.h, types.h, asm/page.h and generated headers, not the test stubs.
#
#   bash scripts/kernel_tree.sh [TREE]
#
# TREE is a prepared kernel tree (`make olddefconfig prepare`, x86). Without
# it, one is assembled from the distribution's kernel headers (Debian's
# linux-headers-amd64, installed with apt-get when missing and run as root).
# The tree is copied to a scratch directory and kho's transcriptions of the
# KHO ABI headers are put in its include/linux/kho/abi; nothing outside the
# scratch directory is written.
#
# It checks that lock, check, import and diff git:HEAD~1 give the outcomes
# the README promises, and that the schemas and lock equal those read
# through the stubs the tests use (so the tests' include path stands for a
# real one).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

fail() {
    echo "kernel_tree: $*" >&2
    exit 1
}

# The tree: given, or Debian's headers package (common + amd64 halves).
src=${1:-}
if [ -z "$src" ]; then
    # The newest; nothing (not a failure) when there is none.
    find_headers() {
        { ls -d /usr/src/linux-headers-*-amd64 2>/dev/null || true; } | sort -V | tail -n 1
    }
    amd64=$(find_headers)
    if [ -z "$amd64" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq linux-headers-amd64 >/dev/null
        amd64=$(find_headers)
    fi
    [ -n "$amd64" ] || fail "no kernel tree: pass one, or install linux-headers-amd64"
    common=${amd64%-amd64}-common
    [ -d "$common" ] || fail "$amd64 has no $common beside it"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir "$tree"
if [ -n "$src" ]; then
    [ -d "$src/include/linux" ] || fail "$src: no include/linux (not a kernel tree)"
    cp -a "$src/include" "$src/arch" "$tree/"
else
    cp -a "$common/include" "$common/arch" "$tree/"
    cp -a "$amd64/include/." "$tree/include/"
    cp -a "$amd64/arch/." "$tree/arch/"
fi
echo "kernel_tree: $(grep -ho 'UTS_RELEASE "[^"]*"' "$tree/include/generated/utsrelease.h" 2>/dev/null || echo "tree $src")"

# kho's transcriptions of the headers (the kernel's own text cannot be
# committed here), luo.h's uapi constant, and a git history for diff.
fixtures=$repo/kho-schema/tests/fixtures
abi=$tree/include/linux/kho/abi
mkdir -p "$abi"
cp "$fixtures"/kernel/linux/kho/abi/*.h "$repo"/kho-import/tests/fixtures/kernel/linux/kho/abi/*.h "$abi/"
if [ ! -e "$tree/include/uapi/linux/liveupdate.h" ]; then
    cp "$fixtures/kernel-stubs/include/uapi/linux/liveupdate.h" "$tree/include/uapi/linux/"
fi
# memfd-v2's MEMFD_LUO_ALL_SEALS names F_SEAL_EXEC, in uapi/linux/fcntl.h
# since Linux 6.3; an older tree (Debian 12's 6.1) gets the uapi value here,
# after F_SEAL_FUTURE_WRITE as 6.3 has it.
fcntl=$tree/include/uapi/linux/fcntl.h
if ! grep -q 'define F_SEAL_EXEC' "$fcntl"; then
    grep -q 'define F_SEAL_FUTURE_WRITE' "$fcntl" || fail "$fcntl: no F_SEAL_FUTURE_WRITE"
    sed -i 's|^#define F_SEAL_FUTURE_WRITE.*|&\n#define F_SEAL_EXEC\t0x0020|' "$fcntl"
fi

cargo build -q -p kho-abi
kho=${CARGO_TARGET_DIR:-$repo/target}/debug/kho-abi

# The README's preprocessor options, taken from the README itself.
cpp_block=$(sed -n '/^KHO_CPP="/,/"$/p' README.md)
[ -n "$cpp_block" ] || fail "README.md has no KHO_CPP=\"...\" block"
eval "$cpp_block"
read -r -a cpp <<<"$KHO_CPP"

# Runs a kho-abi command in the tree; its exit status must be $1.
run() {
    local want=$1
    shift
    local rc=0
    (cd "$tree" && "$kho" "$@" "${cpp[@]}") >"$work/out" 2>&1 || rc=$?
    if [ "$rc" != "$want" ]; then
        cat "$work/out" >&2
        fail "kho-abi $1 exited $rc, not $want"
    fi
}
# The last run's output must contain $1.
says() {
    grep -qF -- "$1" "$work/out" || { cat "$work/out" >&2; fail "missing: $1"; }
}

# luo.h as the kernel writes it: one struct's kernel-doc names a macro the
# header does not define, which import refuses (see kho-import's tests).
run 1 import --out "$work/schemas" include/linux/kho/abi/luo.h
says "covers struct luo_file_ser"
sed -i 's/LUO_SESSION_COMPATIBLE must/`LUO_FDT_SESSION_COMPATIBLE` must/' "$abi/luo.h"

git -C "$tree" init -q
git -C "$tree" add include/linux/kho
git -C "$tree" -c user.name=kho -c user.email=kho@localhost commit -qm "KHO ABIs"
headers=()
for h in "$abi"/*.h; do headers+=("include/linux/kho/abi/${h##*/}"); done
count=${#headers[@]}

echo "== lock, check and import in the tree"
run 0 lock --headers include/linux/kho/abi --lock include/linux/kho/abi/abi.lock
says "records $count ABIs"
run 0 check --headers include/linux/kho/abi --lock include/linux/kho/abi/abi.lock
says "ok: $count ABIs"
run 0 import --out "$work/schemas" "${headers[@]}"
[ "$(ls "$work/schemas" | wc -l)" = "$count" ] || fail "import wrote $(ls "$work/schemas")"

echo "== the same through the test stubs"
mkdir -p "$work/stub/linux/kho/abi"
cp "$abi"/*.h "$work/stub/linux/kho/abi/"
stub=(-I "$work/stub" -I "$fixtures/kernel-stubs/include")
"$kho" import --out "$work/stub-schemas" "${stub[@]}" "$work"/stub/linux/kho/abi/*.h >/dev/null 2>&1 ||
    fail "import through the stubs failed"
diff -r "$work/schemas" "$work/stub-schemas" || fail "the stubs read differently from the tree"
"$kho" lock --headers "$work/stub/linux/kho/abi" --lock "$work/stub.lock" "${stub[@]}" >/dev/null 2>&1 ||
    fail "lock through the stubs failed"
diff <(grep -v '^#' "$work/stub.lock") <(grep -v '^#' "$abi/abi.lock") ||
    fail "the stubs lock differently from the tree"

echo "== gcc in the tree: the kernel's headers and the generated ones agree with kho"
# kho's layouts and constant values (from its own evaluation of const_ilog2,
# DIV_ROUND_UP, DECLARE_BITMAP, enums, ...) as static asserts on the
# kernel's headers, compiled with the tree's own macros; and the headers
# kho generates from the imported schemas, which assert their layout too.
"$kho" generate --schemas "$work/schemas" --out "$work/gen" --only c >/dev/null ||
    fail "generate from the imported schemas failed"
page=$(grep -o 'page [0-9]*' "$abi/abi.lock" | head -n 1 | cut -d' ' -f2)
[ -n "$page" ] || fail "the lock records no page size"
probe=$work/probe.c
for h in "${headers[@]}"; do echo "#include <${h#include/}>"; done >"$probe"
awk -v page="$page" '
    function key(k,   i) { for (i = 1; i < NF; i++) if ($i == k) return $(i + 1); return "" }
    /^const [A-Za-z_0-9]+ = [0-9]+$/ { print "_Static_assert(" $2 " == " $4 ", \"" $2 "\");" }
    /^const [A-Za-z_0-9]+ = [0-9]+:/ {
        for (i = 4; i <= NF; i++) { split($i, v, ":"); if (v[1] == page) print "_Static_assert(" $2 " == " v[2] ", \"" $2 "\");" }
    }
    /^(struct|union) / {
        p = key("page"); here = (p == "" || p == page); s = $1 " " $2
        a = key("align"); if (a == "") a = 1
        if (here) print "_Static_assert(sizeof(" s ") == " key("size") " && _Alignof(" s ") == " a ", \"" $2 "\");"
    }
    /^[^ ]/ && !/^(struct|union) / { here = 0 }
    /^  [A-Za-z_][A-Za-z_0-9]* .* offset [0-9]+ size [0-9]+/ && here && key("bits") == "" {
        print "_Static_assert(offsetof(" s ", " $1 ") == " key("offset") ", \"" $2 "." $1 "\");"
    }' "$abi/abi.lock" >>"$probe"
asserts=$(grep -c _Static_assert "$probe")
[ "$asserts" -gt 20 ] || fail "only $asserts asserts from the lock"
gcc_tree() {
    (cd "$tree" && gcc -fsyntax-only -nostdinc -isystem "$(gcc -print-file-name=include)" \
        -std=gnu11 "${cpp[@]}" "$@")
}
gcc_tree "$probe" || fail "the kernel's headers disagree with the lock (see above)"
for g in "$work"/gen/c/linux/kho/abi/*.h; do
    gcc_tree -I "$work/gen/c" -x c "$g" || fail "generated ${g##*/} does not compile in the tree"
done
echo "kernel_tree: $asserts asserts hold on the kernel's headers; $(ls "$work"/gen/c/linux/kho/abi | wc -l) generated headers compile"

echo "== a layout change without a bump, then with one"
sed -i 's/u64 pfn:52;/u64 pfn:51;/' "$abi/memfd.h"
git -C "$tree" -c user.name=kho -c user.email=kho@localhost commit -qam "pfn:51"
run 1 check --headers include/linux/kho/abi --lock include/linux/kho/abi/abi.lock
says 'include/linux/kho/abi/memfd.h:'
says 'bump MEMFD_LUO_FH_COMPATIBLE to "memfd-v3"'
run 1 diff git:HEAD~1 --headers include/linux/kho/abi
says 'bump memfd to v3'
says '| pfn | 0 | 8 | u64 bits 0:52 -> u64 bits 0:51 | breaking |'
sed -i 's/"memfd-v2"/"memfd-v3"/' "$abi/memfd.h"
run 0 check --headers include/linux/kho/abi --lock include/linux/kho/abi/abi.lock
says "kho-abi lock"

echo "kernel_tree: ok ($count headers)"
