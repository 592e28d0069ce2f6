#!/usr/bin/env bash
# Compile-cost benchmark: #[derive(kho::KhoEntry)] against zerocopy's derives.
#
# Generates two standalone crates at run time (never committed), each with the
# same N entry types (same names, same field lists, same sizes):
#
#   $OUT/kho_N       #[derive(kho::KhoEntry, Clone, Copy)] + #[kho(compatible)]
#   $OUT/zerocopy_N  #[derive(FromBytes, IntoBytes, KnownLayout, Immutable,
#                             Unaligned, Clone, Copy)]
#
# Both are #[repr(C, packed)]; each crate also has one tiny round-trip
# function per type (kho: AbiField::read_from/write_to; zerocopy:
# read_from_bytes/as_bytes), so the expansion is type-checked and codegen'd,
# not only expanded.
#
# Measured, per crate, with its own CARGO_TARGET_DIR ($OUT/<crate>/target):
#   crate only (debug, release): dependencies are built (and re-checked fresh
#     before every run), the bench crate is `cargo clean -p`'d, then timed;
#   from scratch (debug, release): `cargo clean` of the whole target dir, then
#     timed, so the figure includes the dependency tree (syn, the derive
#     crates, the runtime crates).
# hyperfine is used when on PATH; otherwise a `date +%s.%N` loop. Both report
# the median wall-clock time over the runs, and the mean CPU time (user+sys,
# all processes): on a shared machine CPU time is the steadier figure.
#
# Usage: scripts/compile_bench.sh   (from anywhere; ~10 min on 2 idle cores,
#                                    longer when the machine is busy)
#        KHO_REV=HEAD scripts/compile_bench.sh   (bench the last commit)
# Environment knobs:
#   N=200             number of entry types per crate
#   RUNS=5            timed runs per "crate only" cell
#   SCRATCH_RUNS=3    timed runs per "from scratch" cell
#   SCRATCH_RELEASE=1 also time from scratch in release (0 to skip)
#   SCRATCH_RELEASE_RUNS=2  timed runs for that cell
#   OUT=<repo>/target/compile-bench   scratch directory (wiped and regenerated)
#   NO_HYPERFINE=1    force the date-based fallback
#   KHO_FEATURES=derive  kho without its default features, with these
#                     (comma-separated): e.g. without `std`'s file backends
#   KHO_REV=<git rev> depend on a `git archive` snapshot of that commit
#                     (extracted under $OUT) instead of the live working tree:
#                     reproducible, and immune to edits made during the run
set -euo pipefail

# ---------------------------------------------------------------- settings --
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-200}"
RUNS="${RUNS:-5}"
SCRATCH_RUNS="${SCRATCH_RUNS:-3}"
SCRATCH_RELEASE="${SCRATCH_RELEASE:-1}"
SCRATCH_RELEASE_RUNS="${SCRATCH_RELEASE_RUNS:-2}"
OUT="${OUT:-$REPO/target/compile-bench}"
KHO_DIR="$OUT/kho_$N"
ZC_DIR="$OUT/zerocopy_$N"
KHO_CRATE="bench_kho_$N"
ZC_CRATE="bench_zerocopy_$N"
RESULTS="$OUT/results"
KHO_REV="${KHO_REV:-}"
KHO_FEATURES="${KHO_FEATURES:-}"
# Where the kho crate comes from: the repo itself, or a snapshot of KHO_REV.
KHO_SRC="$REPO"

if [[ -z "${NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null 2>&1; then
    TIMER="hyperfine"
else
    TIMER="date"
fi

log() { printf '==> %s\n' "$*" >&2; }

# ------------------------------------------------ deterministic generation --
# A 31-bit LCG, seeded by a constant: the same N always gives the same types.
RNG=20240611
rand() { # rand MOD -> sets R to a number in [0, MOD)
    RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
    R=$(((RNG >> 8) % $1))
}

# Scalar types, weighted toward what kernel ABIs use most (u64, u32).
SCALARS=(u64 u64 u64 u64 u32 u32 u32 u16 u16 u8 u8 i64 i32 i32 i16 i8)
scalar_size() {
    case "$1" in
        u8 | i8) S=1 ;; u16 | i16) S=2 ;; u32 | i32) S=4 ;; u64 | i64) S=8 ;;
    esac
}
WORDS=(id token flags count generation phys len offset pfn order nr_pages seq
    state kind cookie crc version index magic reserved head tail mask addr)
NAMEWORDS=(name label comm tag uuid path)
NAMELENS=(8 16 24 32 48 64)
MAX_SIZE=384 # bytes: entries range from 8 to a few hundred bytes

# BODY[i]: the field list of type i (shared verbatim by both crates);
# SIZE[i]: its packed size in bytes.
declare -a BODY SIZE
type_name() { printf 'Bench%03dSer' "$1"; }

gen_types() {
    local i f nfields body size ty fsize word k a b j kind elem
    for ((i = 0; i < N; i++)); do
        rand 12
        nfields=$((R + 1))
        body=""
        size=0
        for ((f = 0; f < nfields || size < 8; f++)); do
            rand 100
            kind=$R
            rand ${#WORDS[@]}
            word="${WORDS[$R]}_$f"
            ty=""
            if ((kind < 40 || f >= nfields)); then # a scalar
                rand ${#SCALARS[@]}
                ty=${SCALARS[$R]}
                scalar_size "$ty"
                fsize=$S
            elif ((kind < 55)); then # a NUL-padded name, char[N] in C
                rand ${#NAMELENS[@]}
                k=${NAMELENS[$R]}
                rand ${#NAMEWORDS[@]}
                word="${NAMEWORDS[$R]}_$f"
                ty="[u8; $k]"
                fsize=$k
            elif ((kind < 70)); then # an array of scalars
                rand ${#SCALARS[@]}
                elem=${SCALARS[$R]}
                scalar_size "$elem"
                rand 7
                k=$((R + 2))
                ty="[$elem; $k]"
                fsize=$((S * k))
            elif ((kind < 80)); then # a nested array, e.g. [[u16; 3]; 2]
                rand ${#SCALARS[@]}
                elem=${SCALARS[$R]}
                scalar_size "$elem"
                rand 3
                a=$((R + 2))
                rand 3
                b=$((R + 2))
                ty="[[$elem; $a]; $b]"
                fsize=$((S * a * b))
            elif ((i > 0)); then # an earlier entry type, alone or in an array
                rand "$i"
                j=$R
                if ((kind < 90)); then
                    ty="$(type_name "$j")"
                    fsize=${SIZE[$j]}
                else
                    rand 3
                    k=$((R + 2))
                    ty="[$(type_name "$j"); $k]"
                    fsize=$((SIZE[j] * k))
                fi
                word="${word%_*}_sub_$f"
            fi
            if [[ -z "$ty" ]] || ((fsize > 128 && kind >= 80)); then
                ty=u64 # no earlier type yet, or a nested entry too big
                fsize=8
            fi
            if ((size + fsize > MAX_SIZE)); then
                ((size >= 8)) && break
                ty=u64
                fsize=8
            fi
            body+="    pub $word: $ty,"$'\n'
            size=$((size + fsize))
        done
        BODY[i]="$body"
        SIZE[i]=$size
    done
}

# write_crate DIR CRATE KIND: Cargo.toml, a seeded lockfile and src/lib.rs.
write_crate() {
    local dir=$1 crate=$2 kind=$3 i name
    rm -rf "$dir"
    mkdir -p "$dir/src"
    {
        printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n' "$crate"
        printf '[dependencies]\n'
        if [[ $kind == kho ]]; then
            if [[ -n $KHO_FEATURES ]]; then
                printf 'kho = { path = "%s", default-features = false, features = [%s] }\n' \
                    "$KHO_SRC" "$(sed 's/[^ ,][^ ,]*/"&"/g' <<<"$KHO_FEATURES")"
            else
                printf 'kho = { path = "%s" }\n' "$KHO_SRC"
            fi
        else
            printf 'zerocopy = { version = "0.8", features = ["derive"] }\n'
        fi
        # An empty workspace: the crate lives under the repo's target/ and
        # must not be taken for a member of the repo's workspace.
        printf '\n[workspace]\n'
    } >"$dir/Cargo.toml"
    # Seed the lockfile with the repo's: cargo keeps the versions it locks
    # (zerocopy, syn, proc-macro2, quote, ...) and prunes the rest.
    cp "$KHO_SRC/Cargo.lock" "$dir/Cargo.lock"

    {
        printf '//! Generated by scripts/compile_bench.sh (%s, %d types). Do not edit.\n' "$kind" "$N"
        printf '#![allow(dead_code)]\n\n'
        for ((i = 0; i < N; i++)); do
            name=$(type_name "$i")
            if [[ $kind == kho ]]; then
                printf '#[derive(kho::KhoEntry, Clone, Copy)]\n#[repr(C, packed)]\n'
                printf '#[kho(compatible = "bench-%03d-v1")]\n' "$i"
            else
                printf '#[derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout, zerocopy::Immutable, zerocopy::Unaligned, Clone, Copy)]\n'
                printf '#[repr(C, packed)]\n'
            fi
            printf 'pub struct %s {\n%s}\n\n' "$name" "${BODY[i]}"
        done
        # One round trip per type: read a value from `src`, write it to
        # `dst`, return its size. Symmetric: both panic on a short buffer.
        for ((i = 0; i < N; i++)); do
            name=$(type_name "$i")
            printf 'pub fn rt_%03d(src: &[u8], dst: &mut [u8]) -> usize {\n' "$i"
            if [[ $kind == kho ]]; then
                printf '    let v = <%s as kho::AbiField>::read_from(src);\n' "$name"
                printf '    kho::AbiField::write_to(&v, dst);\n'
                printf '    <%s as kho::KhoEntry>::SIZE\n' "$name"
            else
                printf '    let n = ::core::mem::size_of::<%s>();\n' "$name"
                printf '    let v = <%s as zerocopy::FromBytes>::read_from_bytes(&src[..n]).unwrap();\n' "$name"
                printf '    dst[..n].copy_from_slice(zerocopy::IntoBytes::as_bytes(&v));\n'
                printf '    n\n'
            fi
            printf '}\n\n'
        done
        # A table of every round trip keeps them all reachable from one item.
        printf 'pub static ROUND_TRIPS: [fn(&[u8], &mut [u8]) -> usize; %d] = [\n' "$N"
        for ((i = 0; i < N; i++)); do printf '    rt_%03d,\n' "$i"; done
        printf '];\n'
    } >"$dir/src/lib.rs"
}

# ----------------------------------------------------------------- timing --
# cargo_in DIR ARGS...: cargo in DIR, with that crate's own target dir.
cargo_in() {
    local dir=$1
    shift
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo "$@")
}

# measure LABEL DIR RUNS PREPARE COMMAND: time COMMAND (run in DIR, after
# PREPARE each time) and append "LABEL median min max runs cpu" to $RESULTS
# (wall-clock median, min, max; cpu = mean user+sys seconds per run).
measure() {
    local label=$1 dir=$2 runs=$3 prepare=$4 cmd=$5
    log "timing [$label]: $cmd  (prepare: $prepare; $runs runs)"
    if [[ $TIMER == hyperfine ]]; then
        local json="$OUT/$label.json"
        (cd "$dir" && CARGO_TARGET_DIR="$dir/target" hyperfine --style basic \
            --runs "$runs" --prepare "$prepare" --export-json "$json" "$cmd" >&2)
        # One command per file: the first median/min/max are its figures.
        local med min max usr sys
        med=$(grep -o '"median": *[0-9.e+-]*' "$json" | head -1 | sed 's/.*: *//')
        min=$(grep -o '"min": *[0-9.e+-]*' "$json" | head -1 | sed 's/.*: *//')
        max=$(grep -o '"max": *[0-9.e+-]*' "$json" | head -1 | sed 's/.*: *//')
        usr=$(grep -o '"user": *[0-9.e+-]*' "$json" | head -1 | sed 's/.*: *//')
        sys=$(grep -o '"system": *[0-9.e+-]*' "$json" | head -1 | sed 's/.*: *//')
        echo "$label $med $min $max $runs $(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }')" >>"$RESULTS"
    else
        local times=() cpus=() t0 t1 r cpu TIMEFORMAT='%U %S'
        for ((r = 0; r < runs; r++)); do
            (cd "$dir" && CARGO_TARGET_DIR="$dir/target" sh -c "$prepare")
            t0=$(date +%s.%N)
            # bash's `time` keyword reports the CPU time of the build and its
            # children (format "%U %S") on the group's stderr, captured here;
            # cargo's own output goes to the script's stderr (fd 3).
            cpu=$({ time { (cd "$dir" && CARGO_TARGET_DIR="$dir/target" sh -c "$cmd") >&3 2>&3; }; } 3>&2 2>&1)
            t1=$(date +%s.%N)
            times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
            cpus+=("$(awk '{ printf "%.3f", $1 + $2 }' <<<"$cpu")")
            log "  run $((r + 1)): ${times[-1]} s wall, ${cpus[-1]} s CPU"
        done
        cpu=$(printf '%s\n' "${cpus[@]}" | awk '{ s += $1 } END { print s / NR }')
        printf '%s\n' "${times[@]}" | sort -n | awk -v l="$label" -v n="$runs" -v c="$cpu" '
            { t[NR] = $1 }
            END {
                med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
                print l, med, t[1], t[NR], n, c
            }' >>"$RESULTS"
    fi
}

# cell LABEL: "median s (min–max)" for the table, or "–" when not measured;
# cpu LABEL: the mean CPU seconds.
cell() {
    awk -v l="$1" '$1 == l { printf "%.2f s (%.2f–%.2f)", $2, $3, $4; found = 1 }
        END { if (!found) printf "–" }' "$RESULTS"
}
cpu() {
    awk -v l="$1" '$1 == l { printf "%.2f s", $6; found = 1 }
        END { if (!found) printf "–" }' "$RESULTS"
}

# -------------------------------------------------------------------- main --
mkdir -p "$OUT"
: >"$RESULTS"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -n $KHO_REV ]]; then
    # Pin the commit once: HEAD may move while the benchmark runs.
    KHO_REV=$(git -C "$REPO" rev-parse --verify "$KHO_REV^{commit}")
    # Read-only for the repo: `git archive` writes the tree to stdout.
    KHO_SRC="$OUT/kho-src-${KHO_REV:0:12}"
    log "snapshot of kho at $KHO_REV -> $KHO_SRC"
    rm -rf "$KHO_SRC"
    mkdir -p "$KHO_SRC"
    git -C "$REPO" archive --format=tar "$KHO_REV" | tar -x -C "$KHO_SRC"
fi

log "generating $N entry types (deterministic)"
gen_types
write_crate "$KHO_DIR" "$KHO_CRATE" kho
write_crate "$ZC_DIR" "$ZC_CRATE" zerocopy

# Resolve each crate from its seeded lockfile offline when the registry
# cache has everything; fetch (network) only when it does not.
for d in "$KHO_DIR" "$ZC_DIR"; do
    if ! cargo_in "$d" metadata --offline --format-version 1 >/dev/null 2>&1; then
        log "offline resolution failed in $d: fetching"
        cargo_in "$d" fetch
    fi
    cargo_in "$d" fetch --offline -q 2>/dev/null || cargo_in "$d" fetch -q
done

# No separate warm-up build: the first "prepare" of each crate-only cell
# builds the dependencies, and a generated crate that does not compile fails
# its first timed run (hyperfine and the fallback both stop on an error).

# "Crate only": rebuild the dependency (a no-op unless its sources changed,
# e.g. someone edited kho-derive meanwhile) and clean just the bench crate,
# then time the build of the bench crate alone.
measure kho_crate_debug "$KHO_DIR" "$RUNS" \
    "cargo build --offline -q -p kho && cargo clean --offline -q -p $KHO_CRATE" \
    "cargo build --offline -q"
measure zc_crate_debug "$ZC_DIR" "$RUNS" \
    "cargo build --offline -q -p zerocopy && cargo clean --offline -q -p $ZC_CRATE" \
    "cargo build --offline -q"
measure kho_crate_release "$KHO_DIR" "$RUNS" \
    "cargo build --offline -q --release -p kho && cargo clean --offline -q --release -p $KHO_CRATE" \
    "cargo build --offline -q --release"
measure zc_crate_release "$ZC_DIR" "$RUNS" \
    "cargo build --offline -q --release -p zerocopy && cargo clean --offline -q --release -p $ZC_CRATE" \
    "cargo build --offline -q --release"

# "From scratch": the whole target dir goes, dependencies included.
measure kho_scratch_debug "$KHO_DIR" "$SCRATCH_RUNS" \
    "cargo clean --offline -q" "cargo build --offline -q"
measure zc_scratch_debug "$ZC_DIR" "$SCRATCH_RUNS" \
    "cargo clean --offline -q" "cargo build --offline -q"
if [[ $SCRATCH_RELEASE == 1 ]]; then
    measure kho_scratch_release "$KHO_DIR" "$SCRATCH_RELEASE_RUNS" \
        "cargo clean --offline -q" "cargo build --offline -q --release"
    measure zc_scratch_release "$ZC_DIR" "$SCRATCH_RELEASE_RUNS" \
        "cargo clean --offline -q" "cargo build --offline -q --release"
fi

# ----------------------------------------------------------------- report --
# Versions as actually locked/used by the generated crates.
locked() { # locked DIR NAME: the version(s) of NAME in DIR's lockfile
    awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print }' \
        "$2/Cargo.lock" | paste -sd, -
}
sizes=$(printf '%s\n' "${SIZE[@]}" | sort -n)
nfields=$(printf '%s' "${BODY[@]}" | grep -c 'pub ')

echo
echo "## Compile cost: #[derive(KhoEntry)] vs zerocopy derives ($N types)"
echo
echo "- rustc: $(cd "$KHO_DIR" && rustc -V)"
echo "- cargo: $(cd "$KHO_DIR" && cargo -V)"
if [[ -n $KHO_REV ]]; then
    echo "- kho: snapshot of commit $KHO_REV ($KHO_SRC)${KHO_FEATURES:+, features: $KHO_FEATURES (no defaults)}"
else
    dirty=$(git -C "$REPO" status --porcelain --untracked-files=no | head -1)
    echo "- kho: working tree at $(git -C "$REPO" rev-parse --short HEAD)${dirty:+ + uncommitted changes}"
fi
echo "- zerocopy / zerocopy-derive: $(locked zerocopy "$ZC_DIR") / $(locked zerocopy-derive "$ZC_DIR")"
echo "- syn: kho graph $(locked syn "$KHO_DIR"), zerocopy graph $(locked syn "$ZC_DIR")"
echo "- types: $N, $nfields fields, sizes $(head -1 <<<"$sizes")–$(tail -1 <<<"$sizes") B (median $(sed -n "$(((N + 1) / 2))p" <<<"$sizes") B)"
echo "- timer: $TIMER; runs: crate only $RUNS, from scratch $SCRATCH_RUNS$([[ $SCRATCH_RELEASE == 1 ]] && echo " (release $SCRATCH_RELEASE_RUNS)")"
echo "- cores: $(nproc); load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "Wall-clock time, median (min–max):"
echo
if [[ $SCRATCH_RELEASE == 1 ]]; then
    echo "| derive | crate only, debug | crate only, release | from scratch, debug (incl. deps) | from scratch, release (incl. deps) |"
    echo "|---|---|---|---|---|"
    echo "| kho derive | $(cell kho_crate_debug) | $(cell kho_crate_release) | $(cell kho_scratch_debug) | $(cell kho_scratch_release) |"
    echo "| zerocopy derives | $(cell zc_crate_debug) | $(cell zc_crate_release) | $(cell zc_scratch_debug) | $(cell zc_scratch_release) |"
else
    echo "| derive | crate only, debug | crate only, release | from scratch, debug (incl. deps) |"
    echo "|---|---|---|---|"
    echo "| kho derive | $(cell kho_crate_debug) | $(cell kho_crate_release) | $(cell kho_scratch_debug) |"
    echo "| zerocopy derives | $(cell zc_crate_debug) | $(cell zc_crate_release) | $(cell zc_scratch_debug) |"
fi
echo
echo "CPU time, user+sys of all processes, mean per run (steadier on a busy machine):"
echo
echo "| derive | crate only, debug | crate only, release | from scratch, debug | from scratch, release |"
echo "|---|---|---|---|---|"
echo "| kho derive | $(cpu kho_crate_debug) | $(cpu kho_crate_release) | $(cpu kho_scratch_debug) | $(cpu kho_scratch_release) |"
echo "| zerocopy derives | $(cpu zc_crate_debug) | $(cpu zc_crate_release) | $(cpu zc_scratch_debug) | $(cpu zc_scratch_release) |"
echo
echo "Generated crates: $KHO_DIR, $ZC_DIR (raw figures: $RESULTS)"
