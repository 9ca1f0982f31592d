#!/usr/bin/env bash
# Static analysis of src/: cppcheck, then clang-tidy with the checked-in
# .clang-tidy (bugprone, cert, clang-analyzer; what is off says why there).
# Any finding fails the run.  clang-tidy needs a compile_commands.json:
# the meson build dir given as $1 (default build; set up if missing).
# Usage: contrib/lint.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
status=0

if [ ! -f "$dir/compile_commands.json" ]; then
	meson setup "$dir" -Dwerror=true >/dev/null
fi

# cppcheck: warnings, performance and portability.  Suppressed, with why:
#  nullPointerRedundantCheck in resolve.c: req->gai is cleared by the
#    evdns callback that may run inside evdns_getaddrinfo(); the check
#    after the call is for that, not a sign gai could be NULL before it.
echo "lint: cppcheck" >&2
cppcheck --enable=warning,performance,portability --error-exitcode=1 \
    --inline-suppr --std=c11 -q -j 2 -I src -D_GNU_SOURCE -D__linux__ \
    --suppress=nullPointerRedundantCheck:src/resolve.c \
    src/ || status=1

# clang-tidy over every .c in src/ (headers through HeaderFilterRegex).
echo "lint: clang-tidy" >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! run-clang-tidy -p "$dir" -quiet -j 2 "$PWD/src/[^/]*\.c$" \
    >"$out" 2>&1; then
	status=1
fi
if grep -qE '(warning|error): ' "$out"; then
	grep -E -A3 '(warning|error): ' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2
	status=1
fi
if [ "$status" -eq 0 ]; then
	echo "lint: clean" >&2
else
	echo "lint: FAILED" >&2
fi
exit "$status"
