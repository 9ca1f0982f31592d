#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan) and run each for a bounded
# time on a scratch copy of its seed corpus.  A crash fails the run.
# Usage: contrib/fuzz.sh [seconds-per-target]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
contrib/deps.sh
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized \
	    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz >/dev/null
passed=0 failed=0
artifacts=build-fuzz/artifacts	# crashing inputs are kept here
mkdir -p "$artifacts"
for bin in build-fuzz/tests/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=${bin##*/fuzz_}
	work=$(mktemp -d)
	[ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$work/"
	if out=$(UBSAN_OPTIONS=halt_on_error=1 "$bin" -max_total_time="$seconds" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$artifacts/$name-" "$work" 2>&1); then
		execs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
		echo "fuzz $name: ok, ${seconds}s, ${execs:-?} execs"
		passed=$((passed + 1))
	else
		printf '%s\n' "$out" | tail -40
		echo "fuzz $name: FAILED"
		failed=$((failed + 1))
	fi
	rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
