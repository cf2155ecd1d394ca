#!/usr/bin/env bash
# run-fuzz.sh FUZZ_DIR SECONDS TARGET... : run each libFuzzer target (what `make fuzz`
# does after building them in FUZZ_DIR) for SECONDS, one after the other, then print
# one table row per target: seconds it ran, executions, exec/s, corpus size, crashes.
#
# Seeds are read from tests/fuzz/corpus/<target> and never written; new inputs go to
# FUZZ_DIR/corpus/<target>, crash inputs to FUZZ_DIR/artifacts/<target>/, each run's
# libFuzzer output to FUZZ_DIR/fuzz_<target>.log. A target's dictionary
# (tests/fuzz/<name>.dict) is passed when there is one. Every target runs even when an
# earlier one crashed; the exit status is non-zero if any did.
# FUZZ_ARGS adds libFuzzer options to every run (e.g. FUZZ_ARGS=-use_value_profile=1).
set -uo pipefail

dir=$1
secs=$2
shift 2
src=tests/fuzz
rows=()
rc=0

dict_for() {
  case $1 in
    sio | json | json_diff) echo "$src/json.dict" ;;
    *) [[ -f $src/$1.dict ]] && echo "$src/$1.dict" ;;
  esac
}

for t in "$@"; do
  bin=$dir/bin/fuzz_$t
  log=$dir/fuzz_$t.log
  mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
  # a token may be 8192 bytes (PL_TOKEN_MAX), and a few more reach "token too long"
  max_len=4096
  [[ $t == jwt ]] && max_len=8300
  dict=$(dict_for "$t")
  echo "=== fuzz_$t for ${secs} s (log: $log)"
  start=$SECONDS
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -max_len=$max_len -timeout=10 -print_final_stats=1 \
    ${dict:+-dict=$dict} -artifact_prefix="$dir/artifacts/$t/" ${FUZZ_ARGS:-} \
    "$dir/corpus/$t" "$src/corpus/$t" >"$log" 2>&1
  r=$?
  took=$((SECONDS - start)) # less than asked when it crashed
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 | sed 's/corp: //')
  crashes=$(find "$dir/artifacts/$t" -type f | wc -l)
  if ((r != 0)); then
    rc=1
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5
  fi
  rows+=("| $t | $took | ${execs:-?} | ${speed:-?} | ${corp:-?} | $crashes |")
done

echo "| target | seconds | executions | exec/s | corpus (inputs/bytes) | crashes |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
exit $rc
