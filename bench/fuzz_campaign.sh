#!/usr/bin/env bash
# The fuzz campaign behind docs/reliability.md: every libFuzzer target of
# build-fuzz/ (make fuzz) runs from its seed corpus until RUNS executions
# (default 10 M) or SECONDS_MAX seconds (default 1200), one at a time.
# Prints one line per target: executions, seconds, exec/s, findings.
# Findings (crash inputs) are left in $OUT (default /tmp/hearth-fuzz).
set -u
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
SECONDS_MAX=${SECONDS_MAX:-1200}
OUT=${OUT:-/tmp/hearth-fuzz}
mkdir -p "$OUT"
printf '%-14s %12s %8s %9s %s\n' target executions seconds exec/s findings
for fz in build-fuzz/fuzz_*; do
	name=${fz##*/fuzz_}
	[ -z "${ONLY:-}" ] || [[ $name =~ $ONLY ]] || continue
	corpus=$OUT/corpus-$name
	mkdir -p "$corpus"
	cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	t0=$(date +%s)
	log=$("$fz" -runs="$RUNS" -max_total_time="$SECONDS_MAX" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/$name-" -print_final_stats=1 "$corpus" 2>&1)
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	runs=$(echo "$log" | sed -n 's/^stat::number_of_executed_units: *//p' | tail -n 1)
	finds=$(ls "$OUT/$name-"* 2>/dev/null | wc -l)
	[ $rc = 0 ] || finds="$finds (exit $rc)"
	printf '%-14s %12s %8s %9s %s\n' "$name" "${runs:-?}" "$secs" "$(( ${runs:-0} / (secs > 0 ? secs : 1) ))" "$finds"
done
