#!/usr/bin/env bash
# The main job on a generated sample library: scan it, find its duplicates, plan its move into
# a new library, carry the plan out, and verify the result against a manifest.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
pv=".venv/bin/photoverify"
export PHOTOVERIFY_CATALOG="$out/catalog.sqlite"
rm -rf "$out" && mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "generate a sample library (iPhone-style export with the usual migration mess)"
.venv/bin/python -m benchmarks.make_library "$out/library" --photos 40 --size small --seed 7

step "photoverify scan"
$pv scan "$out/library"

step "photoverify dupes"
$pv dupes "$out/library" | tail -n 40

if $pv plan --help >/dev/null 2>&1; then
  step "photoverify plan → $out/plan.json"
  $pv plan "$out/library" --dest "$out/new-library" -o "$out/plan.json" --csv "$out/plan.csv"
  step "photoverify apply"
  $pv apply "$out/plan.json"
fi

if $pv verify --help >/dev/null 2>&1 && [ -d "$out/new-library" ]; then
  step "photoverify manifest + verify of the new library"
  $pv manifest "$out/new-library" --format json -o "$out/new-library.manifest.json"
  $pv verify "$out/new-library" --manifest "$out/new-library.manifest.json" || true
fi

step "done: everything is under $out/ (catalog, plan, new library)"
