#!/usr/bin/env bash
# fuzz-pick.sh TARGET N [FUZZ_DIR] : copy into tests/fuzz/corpus/TARGET the N inputs a
# `make fuzz` run found (FUZZ_DIR/corpus/TARGET, default build-fuzz) that add the most
# coverage edges to the seeds, so the repository corpus grows by a few telling inputs
# rather than by thousands.
#
# First `-merge=1 -use_counters=0` keeps only the found inputs that reach an edge the
# seeds do not; then N greedy rounds each take the input whose addition raises the
# edge count ("cov:") of seeds + inputs taken so far the most. Names stay libFuzzer's
# (the SHA-1 of the content). Prints the edge count before and after.
set -euo pipefail

t=$1
n=$2
dir=${3:-build-fuzz}
bin=$dir/bin/fuzz_$t
seeds=tests/fuzz/corpus/$t
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cov() { # edge count of the files in directory $1
  "$bin" -runs=0 "$1" 2>&1 | sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' | tail -n 1
}

mkdir -p "$work/base" "$work/pool"
cp "$seeds"/* "$work/base/"
"$bin" -merge=1 -use_counters=0 -use_value_profile=0 "$work/base" "$dir/corpus/$t" \
  >"$work/merge.log" 2>&1
for f in "$work/base"/*; do
  [[ -e $seeds/$(basename "$f") ]] || mv "$f" "$work/pool/"
done
rm -rf "$work/base" && mkdir "$work/base" && cp "$seeds"/* "$work/base/"
start=$(cov "$work/base")
now=$start
for ((round = 0; round < n; round++)); do
  best= best_cov=$now
  for f in "$work/pool"/*; do
    [[ -e $f ]] || continue
    rm -rf "$work/try" && cp -r "$work/base" "$work/try" && cp "$f" "$work/try/"
    c=$(cov "$work/try")
    if ((c > best_cov)); then best=$f best_cov=$c; fi
  done
  [[ -n $best ]] || break
  mv "$best" "$work/base/" && cp "$work/base/$(basename "$best")" "$seeds/"
  now=$best_cov
  echo "fuzz-pick: $t + $(basename "$best"): $now edges"
done
echo "fuzz-pick: $t: $start -> $now edges with $round more seed(s)"
