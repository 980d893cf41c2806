#!/bin/sh
# Runs libFuzzer harnesses for a fixed time each: run.sh SECONDS BINARY...
# Each starts from a temporary copy of spec/fuzz/corpus/<name>/ (plus
# spec/fuzz/<name>.dict when there is one), so nothing is written into the
# repository. Prints executions, coverage and findings per harness; exits 1
# when any harness found something, keeping its reproducer and log.
set -u

seconds=$1
shift
here=$(dirname "$0")
failed=0
summary=""

for bin in "$@"; do
  name=$(basename "$bin" | sed 's/^fuzz_//')
  work=$(mktemp -d "${TMPDIR:-/tmp}/gt-fuzz-$name.XXXXXX")
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ -d "$here/corpus/$name" ]; then
    cp "$here/corpus/$name"/* "$work/corpus/" 2>/dev/null || true
  fi
  seeds=$(ls "$work/corpus" | wc -l)
  dict=""
  [ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"

  echo "== fuzz_$name: ${seconds}s from $seeds seeds"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" $dict \
    "$work/corpus" >"$work/log" 2>&1
  rc=$?

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  persec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n 1)
  findings=$(ls "$work/artifacts" | wc -l)

  if [ "$rc" -eq 0 ] && [ "$findings" -eq 0 ]; then
    verdict="nothing found"
    echo "   ${took:-?}s, ${execs:-?} executions (${persec:-?}/s), cov ${cov:-?}, ft ${ft:-?}," \
      "corpus ${seeds} -> ${corp:-?}, peak RSS ${rss:-?} MB: $verdict"
    rm -rf "$work"
  else
    failed=1
    verdict="FOUND SOMETHING (exit $rc)"
    echo "   ${execs:-?} executions: $verdict"
    grep -E 'ERROR: |SUMMARY: |runtime error|in LLVMFuzzerTestOneInput|src/gt_|spec/fuzz/' "$work/log" |
      head -n 12 | sed 's/^ */   /'
    for a in "$work"/artifacts/*; do
      [ -e "$a" ] && echo "   reproduce: $bin $a"
    done
    echo "   log and artifacts kept in $work"
  fi
  summary="$summary
  fuzz_$name: ${took:-?}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}: $verdict"
done

echo "== fuzz summary:$summary"
exit $failed
