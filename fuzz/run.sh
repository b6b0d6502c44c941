#!/bin/bash
# Runs each fuzz target for FUZZ_SECONDS (default 60) from a seed corpus of
# clang-compiled fixture objects, and records executions and crashes in
# BENCHMARKS.md (between the fuzz markers). Usage: make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1   # cargo fuzz needs -Z flags; this machine has only a stable toolchain
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
corpus=fuzz/corpus
mkdir -p "$corpus/normalize" "$corpus/btf_schema" fuzz/artifacts
arch=x86; [ "$(uname -m)" = aarch64 ] && arch=arm64
for src in tests/fixtures/*.bpf.c src/bpf/*.bpf.c; do
    for def in "" -DLEGACY; do
        o="$corpus/normalize/$(basename "$src" .c)$def.o"
        clang -g -O2 -target bpf -D__TARGET_ARCH_$arch $def -I vmlinux -I solo_types -c "$src" -o "$o" 2>/dev/null || true
        [ -s "$o" ] && llvm-objcopy --dump-section .BTF="$corpus/btf_schema/$(basename "$o").btf" "$o" /dev/null 2>/dev/null || true
    done
done
results=()
for t in normalize btf_schema; do
    log=$(mktemp)
    set +e
    cargo fuzz run "$t" "$corpus/$t" -- -max_total_time="$secs" -max_len=262144 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(ls fuzz/artifacts/$t 2>/dev/null | grep -c -E '^(crash|oom|timeout|leak)-' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    echo "$t: exit $rc, ${execs:-?} executions in ${secs}s, coverage ${cov:-?}, crash artifacts: $crashes"
    [ $rc -eq 0 ] || tail -30 "$log"
    results+=("| \`$t\` | ${secs} s | ${execs:-?} | ${cov:-?} | $crashes |")
    rm -f "$log"
done
{
    echo "<!-- fuzz:start -->"
    echo "## Fuzzing"
    echo
    echo "Command: \`make fuzz\` (FUZZ_SECONDS=$secs per target), run $(date -u +%Y-%m-%d) on $(nproc) cores."
    echo "Seed corpus: every C fixture and built-in probe compiled by clang in both spellings (objects) and their raw .BTF sections."
    echo
    echo "| target | time | executions | coverage (edges) | crashes |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${results[@]}"
    echo "<!-- fuzz:end -->"
} > fuzz/.results.md
touch BENCHMARKS.md
python3 - <<'PY'
import re
res = open("fuzz/.results.md").read()
b = open("BENCHMARKS.md").read()
marker = "<!-- results:"
if "<!-- fuzz:start -->" in b:
    b = re.sub(r"<!-- fuzz:start -->.*?<!-- fuzz:end -->\n?", lambda _: res, b, flags=re.S)
elif marker in b:
    # above the part benches/run.sh rewrites
    i = b.index(marker)
    b = b[:i] + res + "\n" + b[i:]
else:
    b = b.rstrip("\n") + "\n\n" + res
open("BENCHMARKS.md", "w").write(b)
PY
rm -f fuzz/.results.md
