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
mkdir -p "$corpus/normalize" "$corpus/btf_schema" "$corpus/object" fuzz/artifacts
arch=x86; [ "$(uname -m)" = aarch64 ] && arch=arm64
for src in tests/fixtures/*.bpf.c src/bpf/*.bpf.c; do
    for def in "" -DLEGACY; do
        o="$corpus/normalize/$(basename "$src" .c)$def.o"
        clang -g -O2 -target bpf -D__TARGET_ARCH_$arch $def -I vmlinux -I solo_types -c "$src" -o "$o" 2>/dev/null || true
        [ -s "$o" ] && llvm-objcopy --dump-section .BTF="$corpus/btf_schema/$(basename "$o").btf" "$o" /dev/null 2>/dev/null || true
    done
done
targets=${FUZZ_TARGETS:-normalize btf_schema object}
mkdir -p "$corpus/object"
cp -n "$corpus"/normalize/*.o "$corpus/object/" 2>/dev/null || true
rows=()
for t in $targets; do
    log=$(mktemp)
    set +e
    cargo fuzz run "$t" "$corpus/$t" -- -max_total_time="$secs" -max_len=65536 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(ls fuzz/artifacts/$t 2>/dev/null | grep -c -E '^(crash|oom|timeout|leak)-' || true)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    echo "$t: exit $rc, ${execs:-?} executions in ${secs}s, coverage ${cov:-?}, crash artifacts: $crashes"
    [ $rc -eq 0 ] || tail -30 "$log"
    rows+=("| $(date -u +%Y-%m-%d) | \`$t\` | ${secs} s | ${execs:-0} | ${cov:-?} | $crashes |")
    rm -f "$log"
done
printf '%s\n' "${rows[@]}" > fuzz/.rows.md
touch BENCHMARKS.md
# keeps a history: every run adds its rows; the totals are summed over all rows
python3 - "$(nproc)" <<'PY'
import re, sys
new = [l for l in open("fuzz/.rows.md").read().splitlines() if l.strip()]
b = open("BENCHMARKS.md").read()
m = re.search(r"<!-- fuzz:start -->.*?<!-- fuzz:end -->\n?", b, flags=re.S)
old_rows = []
if m:
    for l in m.group(0).splitlines():
        cells = [c.strip() for c in l.strip().strip("|").split("|")]
        if len(cells) == 6 and re.match(r"\d{4}-\d\d-\d\d", cells[0]):
            old_rows.append(l)
rows = old_rows + new
totals = {}
crashes = {}
for l in rows:
    c = [x.strip() for x in l.strip().strip("|").split("|")]
    t = c[1].strip("`")
    totals[t] = totals.get(t, 0) + int(c[3] or 0)
    crashes[t] = crashes.get(t, 0) + int(c[5] or 0)
out = ["<!-- fuzz:start -->", "## Fuzzing", "",
       "Command: `make fuzz` (`FUZZ_SECONDS` per target, `FUZZ_TARGETS` to choose), on %s cores." % sys.argv[1],
       "Seed corpus: every C fixture and built-in probe compiled by clang in both spellings (objects) and their raw .BTF sections.",
       "`object` runs the whole path before the kernel: ELF and BTF parsing, validation of map and program types, watched maps and plans, variables, normalization, and libbpf opening the result from memory.",
       "", "Totals over every run below:", "", "| target | executions | crashes |", "|---|---|---|"]
for t in sorted(totals):
    out.append("| `%s` | %d | %d |" % (t, totals[t], crashes[t]))
out += ["", "| date | target | time | executions | coverage (edges) | crashes |", "|---|---|---|---|---|---|"]
out += rows
out += ["<!-- fuzz:end -->", ""]
res = "\n".join(out)
marker = "<!-- results:"
if m:
    b = b[:m.start()] + res + b[m.end():]
elif marker in b:
    i = b.index(marker)
    b = b[:i] + res + "\n" + b[i:]
else:
    b = b.rstrip("\n") + "\n\n" + res
open("BENCHMARKS.md", "w").write(b)
PY
rm -f fuzz/.rows.md
