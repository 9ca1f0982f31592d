#!/bin/sh
# Install the current build with `meson install --destdir` and check the
# installed tree: every file where README.md and lattice-agent(8) say it
# lands, `lattice-agent -version` running from there, generated files
# pointing at the installed binary, and the installed unit, init script,
# conf.d, env example and man page passing their linters (test_lint.sh).
#
# usage: test_install.sh BUILD_ROOT PREFIX SBINDIR MANDIR DATADIR UNITDIR \
#            VERSION
#
# Directories are absolute install paths as meson computes them; UNITDIR
# is empty when the systemd unit is not installed (-Dsystemd=disabled or
# systemd's pkg-config file absent).  Exit 77 (SKIP) when meson itself is
# not available to run the install.

set -u

if [ $# -ne 7 ]; then
	echo "usage: $0 BUILD_ROOT PREFIX SBINDIR MANDIR DATADIR UNITDIR" \
	    "VERSION" >&2
	exit 2
fi
build=$1 prefix=$2 sbindir=$3 mandir=$4 datadir=$5 unitdir=$6 version=$7
here=$(cd "$(dirname "$0")" && pwd)

if command -v meson >/dev/null 2>&1; then
	set -- meson
elif python3 -c 'import mesonbuild' >/dev/null 2>&1; then
	set -- python3 -m mesonbuild.mesonmain
else
	echo "skip: meson not found on PATH, cannot run meson install"
	exit 77
fi

fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

dest=$(mktemp -d) || exit 1
trap 'rm -rf "$dest"' EXIT

# --no-rebuild: meson test has already built everything, and a nested
# ninja run would contend for the build dir's lock.
if ! out=$("$@" install -C "$build" --destdir "$dest" --no-rebuild 2>&1)
then
	echo "$out"
	echo "FAIL: meson install --destdir"
	exit 1
fi
ok "meson install --destdir $dest"

bin="$dest$sbindir/lattice-agent"
man="$dest$mandir/man8/lattice-agent.8"
ex="$dest$datadir/doc/lattice-agent/examples"

# --- layout ----------------------------------------------------------------
check_file() {
	# check_file PATH x|f DESCRIPTION: executable or regular file.
	if { [ "$2" = x ] && [ -x "$1" ]; } || { [ "$2" = f ] && [ -f "$1" ]; }
	then
		ok "$3: ${1#"$dest"}"
	else
		bad "$3 missing or wrong mode: ${1#"$dest"}"
	fi
}
check_file "$bin" x "binary in sbindir"
check_file "$man" f "man page in section 8"
check_file "$ex/agent.env.example" f "env example"
check_file "$ex/lattice-agent.confd" f "OpenRC conf.d"
check_file "$ex/lattice-agent.initd" x "OpenRC init script (executable)"
check_file "$ex/lattice-agent-firewall.conf" f "CAP_NET_ADMIN drop-in"
if [ -n "$unitdir" ]; then
	unit="$dest$unitdir/lattice-agent.service"
	check_file "$unit" f "systemd unit in the unit dir"
else
	unit="$ex/lattice-agent.service"
	check_file "$unit" f "systemd unit among the examples (no systemd)"
fi

# Nothing but these may be installed: a stray file is undocumented.
expected=$(cat <<EOF | sort
${bin#"$dest"}
${man#"$dest"}
${ex#"$dest"}/agent.env.example
${ex#"$dest"}/lattice-agent.confd
${ex#"$dest"}/lattice-agent.initd
${ex#"$dest"}/lattice-agent-firewall.conf
${unit#"$dest"}
EOF
)
actual=$(cd "$dest" && find . -type f -o -type l | sed 's|^\.||' | sort)
if [ "$expected" = "$actual" ]; then
	ok "installed tree holds exactly the documented files"
else
	bad "installed tree differs from the documented layout"
	echo "--- expected"; echo "$expected"
	echo "--- installed"; echo "$actual"
fi

# --- the installed binary runs ----------------------------------------------
if [ -x "$bin" ]; then
	out=$("$bin" -version 2>&1)
	if [ "$out" = "lattice-agent $version" ]; then
		ok "lattice-agent -version prints '$out'"
	else
		bad "lattice-agent -version printed '$out'," \
		    "expected 'lattice-agent $version'"
	fi
fi

# --- generated files name the installed binary --------------------------------
if [ -f "$unit" ] &&
    ! grep -qx "ExecStart=$sbindir/lattice-agent" "$unit"; then
	bad "unit ExecStart does not name $sbindir/lattice-agent"
fi
if [ -f "$ex/lattice-agent.initd" ] &&
    ! grep -qx "command=\"$sbindir/lattice-agent\"" "$ex/lattice-agent.initd"
then
	bad "init script command= does not name $sbindir/lattice-agent"
fi
if grep -l '@[a-z_]*@' "$unit" "$ex"/* 2>/dev/null; then
	bad "unsubstituted @placeholders@ in the files above"
fi

# --- linters on what was installed ------------------------------------------
# The unit is verified against the destdir binary (see test_lint.sh).
if [ "$fail" -eq 0 ]; then
	"$here/test_lint.sh" "$bin" "$unit" "$ex/lattice-agent-firewall.conf" \
	    "$man" "$ex/lattice-agent.initd" "$ex/lattice-agent.confd" \
	    "$ex/agent.env.example" || fail=1
fi

[ "$fail" -eq 0 ] || echo "FAIL: installed tree (prefix $prefix)"
exit "$fail"
