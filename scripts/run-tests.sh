#!/usr/bin/env bash
# run-tests.sh BUILD_DIR... : run ctest (unit + integration) in each build directory,
# every directory even when an earlier one failed, then print one summary line
# `ctest: N passed, M failed` over all of them. Exit non-zero if anything failed.
# CTEST_JOBS (default: nproc) sets ctest -j; CTEST_ARGS adds arguments (e.g. -R it_auth).
set -uo pipefail

jobs=${CTEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
passed=0
failed=0
rc=0
start=$(date +%s)
for dir in "$@"; do
  echo "=== ctest in $dir (-j$jobs)"
  log=$(mktemp)
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 900 \
    ${CTEST_ARGS:-} 2>&1 | tee "$log"
  r=${PIPESTATUS[0]}
  ((r == 0)) || rc=1
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
    f=${BASH_REMATCH[1]}
    t=${BASH_REMATCH[2]}
    failed=$((failed + f))
    passed=$((passed + t - f))
  else
    echo "run-tests: no ctest summary in $dir (exit $r)" >&2
    failed=$((failed + 1))
    rc=1
  fi
  rm -f "$log"
done
echo "=== all test runs took $(( $(date +%s) - start )) s"
echo "ctest: $passed passed, $failed failed"
exit $rc
