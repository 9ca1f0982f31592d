#!/usr/bin/env bash
# Set up, build with -Werror and run the whole test suite: unit tests
# (cmocka) and integration tests (the real binary against the bundled test
# control plane on loopback), then the static analysis (contrib/lint.sh).
# With --sanitize (what CI runs), also: the suite built with ASan+UBSan,
# the unit tests and the integration suite under valgrind memcheck (zero
# errors, zero definite leaks), and each libFuzzer target for
# FUZZ_SECONDS (default 20) on its corpus.  The soak (suite 'soak') is
# never run here: `meson test -C build --suite soak`.
# Ends with one line "N passed, N failed, N skipped".
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
count_log() {	# meson testlog .json
	local counts p f s
	counts=$(python3 - "$1" <<'PY'
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
newest() {	# files...: the most recently modified
	local f best=
	for f in "$@"; do
		{ [ -z "$best" ] || [ "$f" -nt "$best" ]; } && best=$f
	done
	echo "$best"
}
one() {		# name, status: count one test of our own
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1)); echo "$1: ok"
	else
		failed=$((failed + 1)); echo "$1: FAILED"
	fi
}

setup() {	# build-dir, meson setup options...
	local dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" -Dwerror=true "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}

run_suite() {	# build-dir, meson setup options...
	setup "$@"
	meson test -C "$1" --print-errorlogs --num-processes 2 || true
	count_log "$1/meson-logs/testlog.json"
}

run_suite build
rc=0; contrib/lint.sh build || rc=$?; one lint "$rc"

if [ "$sanitize" -eq 1 ]; then
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false

	# valgrind: the cmocka tests under memcheck, then the integration
	# suite with every agent process under it (harness.py puts
	# $LATTICE_AGENT_WRAPPER in front).  Agents the tests SIGKILL write
	# no summary; every summary written must show zero errors.
	vg="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite"
	meson test -C build --suite unit --num-processes 2 --print-errorlogs \
	    --logbase valgrind-unit --wrapper "$vg -q" || true
	# (meson adds the wrapper's name to the log's: valgrind-unit-valgrind)
	count_log "$(newest build/meson-logs/valgrind-unit*.json)"
	vglogs=$(mktemp -d)
	LATTICE_AGENT_WRAPPER="$vg --log-file=$vglogs/vg.%p" \
	    meson test -C build --suite integration --num-processes 2 \
	    --print-errorlogs --timeout-multiplier 3 \
	    --logbase valgrind-integration || true
	count_log "$(newest build/meson-logs/valgrind-integration*.json)"
	rc=0
	if grep -l 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]' \
	    "$vglogs"/vg.* 2>/dev/null; then
		grep -h -B2 -A30 'Invalid\|uninitialised\|definitely lost in' \
		    "$vglogs"/vg.* | head -200
		rc=1
	fi
	[ -n "$(ls "$vglogs")" ] || rc=1	# the wrapper was not used
	echo "valgrind: $(grep -l 'ERROR SUMMARY' "$vglogs"/vg.* | wc -l) agent runs with a summary"
	one valgrind-agent "$rc"
	rm -rf "$vglogs"

	# Fuzzing: each target a bounded time on its corpus; a crash fails.
	if out=$(contrib/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1); then :; fi
	printf '%s\n' "$out" | grep -v '^[0-9]* passed, ' || true
	p=$(printf '%s\n' "$out" | grep -c '^fuzz .*: ok' || true)
	f=$(printf '%s\n' "$out" | grep -c '^fuzz .*: FAILED' || true)
	[ "$p" -gt 0 ] || f=$((f + 1))		# nothing ran: a failure
	passed=$((passed + p)); failed=$((failed + f))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
