#!/bin/sh
# Benchmarks: build a release binary in build-bench/ and measure it against
# the bundled test control plane on loopback (bench/bench.py does the
# measuring).  Prints one Markdown table and rewrites the generated part of
# BENCHMARKS.md.
#
#   bench/run.sh              full run (about 10 minutes)
#   bench/run.sh --quick      smoke run with short durations (about 2-3 minutes)
#   bench/run.sh --only 7,8   just some items (1-9); --skip 9 leaves one out
#   bench/run.sh --no-write   do not touch BENCHMARKS.md
#   bench/run.sh --only 7 --merge   re-run item 7, keep the rest from the
#                             last run (build-bench/bench.json)
#
# Needs: meson, ninja, a C compiler, python3, valgrind, strace, openssl,
# curl (optional, for scale).  Nothing here needs root; as root the agents
# get -allow-root-exec for the task items.  The syscall count attaches
# strace -p to an agent, which needs root or kernel.yama.ptrace_scope=0.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build-bench"
write="--write $top/BENCHMARKS.md"
args=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-write) write="" ;;
	--quick) args="$args --quick" ;;
	--only|--skip) args="$args $1 $2"; shift ;;
	--merge) args="$args --merge" ;;
	--only=*|--skip=*) args="$args $1" ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

for tool in meson ninja cc python3 valgrind callgrind_control strace \
    openssl; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "bench/run.sh: $tool is missing" >&2
		exit 1
	}
done

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" -Dbuildtype=release -Db_lto=true \
	    -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null

# shellcheck disable=SC2086 # word splitting of $args and $write is wanted
exec python3 "$top/bench/bench.py" --bin "$build/src/lattice-agent" \
    --json "$build/bench.json" $write $args
