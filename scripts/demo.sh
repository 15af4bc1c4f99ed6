#!/usr/bin/env bash
# The main job on a generated sample library: scan it, find its duplicates, plan its move into
# a new library, carry the plan out, and verify the result against a manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
pv=".venv/bin/photoverify"
export PHOTOVERIFY_CATALOG="$out/catalog.sqlite"
rm -rf "$out" && mkdir -p "$out"

# bold headings only on a terminal that wants colour (NO_COLOR, https://no-color.org, and logs)
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
# a heading, and below it what to expect, each short enough for an 80-column terminal
step() { printf '\n%s== %s%s\n' "$bold" "$1" "$plain"; [ -z "${2:-}" ] || printf '   %s\n' "$2"; }
# exit 1 means "the run worked and found problems": the sample library has them on purpose
found_problems_ok() { "$@" || [ $? -eq 1 ]; }

step "generate a sample library" "an iPhone-style export with the usual migration mess"
.venv/bin/python -m benchmarks.make_library "$out/library" --photos 40 --size small --seed 7
# the generator's answer key is not part of the library: out of it, or it would be moved too
mv "$out/library/truth.json" "$out/truth.json"
echo "   answer key moved out of the library, to $out/truth.json"

step "photoverify scan" "the generator planted truncated and empty files: reported, exit 1"
found_problems_ok $pv scan "$out/library"

step "photoverify dupes" "the first 40 lines; all of them in $out/dupes.txt"
# written to a file first: `dupes | head` under pipefail fails once the table outgrows the pipe
$pv dupes "$out/library" > "$out/dupes.txt"
head -n 40 "$out/dupes.txt"

if $pv plan --help >/dev/null 2>&1; then
  step "photoverify plan → $out/plan.json"
  $pv plan "$out/library" --dest "$out/new-library" -o "$out/plan.json" --csv "$out/plan.csv"
  step "photoverify apply"
  found_problems_ok $pv apply "$out/plan.json"
fi

if $pv verify --help >/dev/null 2>&1 && [ -d "$out/new-library" ]; then
  step "photoverify manifest + verify of the new library"
  $pv manifest "$out/new-library" --format json -o "$out/new-library.manifest.json"
  $pv verify "$out/new-library" --manifest "$out/new-library.manifest.json" || true
  step "photoverify audit: did the move lose anything?" \
    "the planted broken files arrive as they were: flagged, not losses"
  found_problems_ok $pv audit "$out/library" --against "$out/new-library" \
    --report "$out/audit.html"
  step "photoverify report: the library's duplicates, one page" "the new library is a copy"
  $pv report --dupes -o "$out/report.html" | tail -n 2
fi

step "done: everything is under $out/" "catalog, plan, new library, audit.html, report.html"
