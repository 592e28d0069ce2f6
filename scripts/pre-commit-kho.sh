#!/usr/bin/env bash
# Git pre-commit hook for a kernel tree: refuses a commit that changes the
# layout of a KHO ABI header without bumping its compatible macro.
#
#   cp scripts/pre-commit-kho.sh .git/hooks/pre-commit   (in the kernel tree)
#
# It runs `kho-abi check --headers` on the working tree's headers, so it
# refuses while the ABI headers have unstaged changes (stage or stash them).
# Settings (environment):
#   KHO_ABI      the kho-abi binary               [kho-abi]
#   KHO_ABI_DIR  the ABI headers                  [include/linux/kho/abi]
#   KHO_LOCK     the lock `kho-abi lock` wrote    [$KHO_ABI_DIR/abi.lock]
#   KHO_ARCH     the arch/ directory of the build [x86]
#   KHO_CPP      the preprocessor options         [the kernel build's, below]
# The generated headers must exist (`make olddefconfig prepare`).
set -euo pipefail

kho_abi=${KHO_ABI:-kho-abi}
dir=${KHO_ABI_DIR:-include/linux/kho/abi}
lock=${KHO_LOCK:-$dir/abi.lock}
arch=${KHO_ARCH:-x86}

# Nothing to do unless the commit touches the ABI headers or the lock.
if git diff --cached --quiet -- "$dir" "$lock"; then
    exit 0
fi
if ! git diff --quiet -- "$dir" "$lock"; then
    echo "pre-commit-kho: $dir has unstaged changes; stage or stash them (kho-abi reads the working tree)" >&2
    exit 1
fi
if [ -n "${KHO_CPP:-}" ]; then
    # Split on whitespace, as a command line would be.
    read -r -a cpp <<<"$KHO_CPP"
else
    cpp=(-I "arch/$arch/include" -I "arch/$arch/include/generated" -I include
         -I "arch/$arch/include/uapi" -I "arch/$arch/include/generated/uapi"
         -I include/uapi -I include/generated/uapi
         --include include/linux/compiler-version.h --include include/linux/kconfig.h
         --include include/linux/compiler_types.h -D__KERNEL__)
fi
if ! "$kho_abi" check --headers "$dir" --lock "$lock" "${cpp[@]}"; then
    echo "pre-commit-kho: bump the compatible macro named above (then run: $kho_abi lock --headers $dir --lock $lock ...)" >&2
    exit 1
fi
