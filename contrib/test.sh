#!/usr/bin/env bash
# Set up, build with -Werror and run the whole test suite: unit tests
# (cmocka) and integration tests (the real binary against the bundled test
# control plane on loopback).  With --sanitize, the suite runs a second
# time built with ASan+UBSan.  Ends with one line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
for arg in "$@"; do
	case "$arg" in
	--sanitize) sanitize=1 ;;
	*) echo "usage: $0 [--sanitize]" >&2; exit 2 ;;
	esac
done

contrib/deps.sh

passed=0 failed=0 skipped=0
run_suite() {	# build-dir, meson setup options...
	local dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" -Dwerror=true "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	meson test -C "$dir" --print-errorlogs --num-processes 2 || true
	local counts
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
	read -r p f s <<<"$counts"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_suite build
if [ "$sanitize" -eq 1 ]; then
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
