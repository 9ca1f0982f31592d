#!/bin/sh
# Lint the operator-facing files: the systemd unit (and the CAP_NET_ADMIN
# drop-in) with systemd-analyze verify, the OpenRC script, its conf.d file
# and the env example with sh -n and shellcheck, the man page with mandoc.
#
# usage: test_lint.sh BINARY UNIT DROPIN MANPAGE INITD CONFD ENVFILE
#
# BINARY is the lattice-agent the unit's ExecStart is pointed at (verify
# insists that it exists).  Called by meson on the build tree and by
# test_install.sh on the installed tree.  A linter that is not installed,
# or systemd-analyze that cannot run here, is skipped with a message (sh -n
# always runs, so the test as a whole is never skipped); exit 1 on any
# finding.

set -u

if [ $# -ne 7 ]; then
	echo "usage: $0 BINARY UNIT DROPIN MANPAGE INITD CONFD ENVFILE" >&2
	exit 2
fi
binary=$1 unit=$2 dropin=$3 manpage=$4 initd=$5 confd=$6 envfile=$7

fail=0
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
skip() { echo "skip: $*"; }

for f in "$binary" "$unit" "$dropin" "$manpage" "$initd" "$confd" \
    "$envfile"; do
	[ -f "$f" ] || bad "missing file $f"
done
[ "$fail" -eq 0 ] || exit 1

# --- man page ------------------------------------------------------------
if command -v mandoc >/dev/null 2>&1; then
	# -W warning: style notes such as "referenced manual not found"
	# depend on what else is installed on the host.
	if out=$(mandoc -T lint -W warning "$manpage" 2>&1) && [ -z "$out" ]
	then
		ok "mandoc -T lint $manpage"
	else
		bad "mandoc -T lint $manpage"
		echo "$out"
	fi
else
	skip "mandoc not installed (Debian package mandoc)"
fi

# --- shell: init script, conf.d, env file ---------------------------------
# The conf.d and env files are sourced by openrc-run, so they must be valid
# sh with every commented-out setting enabled too.
sed 's/^#\([A-Za-z_][A-Za-z0-9_]*=\)/\1/' "$confd" >"$tmp/confd"
sed 's/^#\([A-Za-z_][A-Za-z0-9_]*=\)/\1/' "$envfile" >"$tmp/env"
for f in "$initd" "$tmp/confd" "$tmp/env"; do
	if sh -n "$f"; then
		ok "sh -n $f"
	else
		bad "sh -n $f"
	fi
done
if command -v shellcheck >/dev/null 2>&1; then
	# The init script and conf.d carry '# shellcheck shell=sh' (openrc-run
	# is not a shebang shellcheck knows); the env file has no directives,
	# and its variables are used by the agent, not by sh (SC2034).
	if shellcheck -s sh "$initd" && shellcheck "$initd" &&
	    shellcheck "$confd" && shellcheck "$tmp/confd" &&
	    shellcheck -s sh -e SC2034 "$tmp/env"; then
		ok "shellcheck $initd $confd $envfile"
	else
		bad "shellcheck"
	fi
else
	skip "shellcheck not installed (Debian package shellcheck)"
fi

# --- OpenRC script behaviour ------------------------------------------------
# openrc-run is not needed to check what start_pre and reload do: source the
# script with stubs for its helpers and look at the environment it hands to
# supervise-daemon and at the commands it runs.
mkdir -p "$tmp/bin"
# shellcheck disable=SC2016  # $CALLS is expanded by the stub, not here
printf '#!/bin/sh\necho "supervise-daemon $*" >>"$CALLS"\n' \
    >"$tmp/bin/supervise-daemon"
chmod +x "$tmp/bin/supervise-daemon"
cat >"$tmp/stubs.sh" <<'STUBS'
checkpath() { echo "checkpath $*" >>"$CALLS"; }
ebegin() { :; }
eend() { return "$1"; }
STUBS
printf 'LATTICE_SERVER=https://cp.example\nLATTICE_NODE_ID=n1\n' \
    >"$tmp/agent.env"
: >"$tmp/token"
openrc_case() {
	# openrc_case: run start_pre then reload; print env, settings, calls.
	: >"$tmp/calls"
	# shellcheck disable=SC2016  # the inner sh expands $1, $2, $command
	env -i PATH="$tmp/bin:$PATH" CALLS="$tmp/calls" \
	    RC_SVCNAME=lattice-agent LATTICE_ENV_FILE="$tmp/agent.env" \
	    LATTICE_TOKEN_FILE="$tmp/token" \
	    LATTICE_AGENT_STATE_DIR="$tmp/state" \
	    sh -c '. "$1"; . "$2"; start_pre || exit 1; env; reload
	        echo "command=$command"
	        echo "command_user=$command_user"
	        echo "error_logger=$error_logger"' sh "$tmp/stubs.sh" "$initd"
	cat "$tmp/calls"
}
out=$(openrc_case)
for want in "LATTICE_SERVER=https://cp.example" "LATTICE_NODE_ID=n1" \
    "LATTICE_NODE_TOKEN_FILE=$tmp/token" "LATTICE_STATE_DIR=$tmp/state" \
    "checkpath -d -m 0700 -o lattice-agent:lattice-agent $tmp/state" \
    "supervise-daemon lattice-agent --signal HUP" \
    "command_user=lattice-agent:lattice-agent" \
    "error_logger=logger -t lattice-agent -p daemon.info"; do
	if printf '%s\n' "$out" | grep -qxF -e "$want"; then
		ok "OpenRC: $want"
	else
		bad "OpenRC: expected '$want' in:"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
done
if ! printf '%s\n' "$out" | grep -qx 'command=/.*/lattice-agent'; then
	bad "OpenRC: command= is not an absolute path to lattice-agent"
fi
# A token set in the env file must not get a second source added.
printf 'LATTICE_NODE_TOKEN=x\n' >>"$tmp/agent.env"
if openrc_case | grep -q '^LATTICE_NODE_TOKEN_FILE='; then
	bad "OpenRC: LATTICE_NODE_TOKEN_FILE added next to LATTICE_NODE_TOKEN"
else
	ok "OpenRC: a token in the env file is the only token source"
fi

# --- systemd unit ----------------------------------------------------------
# verify accepts a misspelt capability or a drop-in that changes nothing, so
# also read systemd's own view of the sandbox (security --offline, systemd
# >= 250) and check that the hardening the unit promises is in effect, that
# the settings that would break tasks stay off, and that the firewall
# drop-in grants CAP_NET_ADMIN and nothing more.  Fields this systemd does
# not report are not checked.
check_security() {
	if ! systemd-analyze security --offline=true --json=short \
	    "$tmp/unit/lattice-agent.service" >"$tmp/sec.json" 2>/dev/null
	then
		skip "systemd-analyze security --offline --json unsupported"
		return
	fi
	if python3 - "$1" "$tmp/sec.json" <<'PY'
import json, sys
variant, path = sys.argv[1], sys.argv[2]
got = {x["json_field"]: x["set"] for x in json.load(open(path))}
on = ["UserOrDynamicUser", "NoNewPrivileges", "ProtectSystem",
      "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
      "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
      "ProtectControlGroups", "ProtectClock", "ProtectHostname",
      "RestrictAddressFamilies_AF_PACKET", "RestrictAddressFamilies_OTHER",
      "RestrictNamespaces_user", "RestrictNamespaces_net",
      "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
      "SystemCallArchitectures", "SystemCallFilter_mount",
      "SystemCallFilter_module", "CapabilityBoundingSet_CAP_SYS_ADMIN",
      "CapabilityBoundingSet_CAP_SET_UID_GID_PCAP", "UMask"]
# Off on purpose: node's JIT needs W+X memory; metrics and facts read /proc.
off = ["MemoryDenyWriteExecute", "ProcSubset", "ProtectProc"]
netadmin = ["AmbientCapabilities", "CapabilityBoundingSet_CAP_NET_ADMIN"]
if variant == "firewall":
    off += netadmin
else:
    on += netadmin
wrong = [f for f in on if got.get(f, True) is not True]
wrong += [f for f in off if got.get(f, False) is not False]
for f in wrong:
    print("    unexpected sandbox setting:", f, "=", got[f])
sys.exit(1 if wrong else 0)
PY
	then
		ok "systemd-analyze security: sandbox as documented ($1)"
	else
		bad "systemd-analyze security: sandbox differs ($1)"
	fi
}

# verify needs ExecStart to exist and runs man(1) for Documentation=, so
# check a copy whose ExecStart is BINARY, with the man page on MANPATH.
mkdir -p "$tmp/unit/lattice-agent.service.d" "$tmp/man/man8"
cp "$manpage" "$tmp/man/man8/lattice-agent.8"
printf '[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n' \
    >"$tmp/probe.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip "systemd-analyze not installed (Debian package systemd)"
elif ! systemd-analyze verify --man=no "$tmp/probe.service" \
    >"$tmp/probe.out" 2>&1 || [ -s "$tmp/probe.out" ]; then
	skip "systemd-analyze verify cannot run here:"
	sed 's/^/    /' "$tmp/probe.out"
elif ! command -v man >/dev/null 2>&1; then
	skip "man(1) missing, systemd-analyze cannot check Documentation="
else
	bin_abs=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
	if ! grep -q '^ExecStart=/[^ ]*/lattice-agent$' "$unit"; then
		bad "$unit: ExecStart is not an absolute path to lattice-agent"
	fi
	sed "s|^ExecStart=.*|ExecStart=$bin_abs|" "$unit" \
	    >"$tmp/unit/lattice-agent.service"
	# Without and with the firewall drop-in.  verify exits 0 on mere
	# warnings (unknown keys, bad values), so any output is a failure.
	for variant in plain firewall; do
		if [ "$variant" = firewall ]; then
			cp "$dropin" "$tmp/unit/lattice-agent.service.d/firewall.conf"
		fi
		if MANPATH="$tmp/man" systemd-analyze verify \
		    "$tmp/unit/lattice-agent.service" >"$tmp/verify.out" 2>&1 &&
		    ! [ -s "$tmp/verify.out" ]; then
			ok "systemd-analyze verify $unit ($variant)"
		else
			bad "systemd-analyze verify $unit ($variant)"
			sed 's/^/    /' "$tmp/verify.out"
		fi
		check_security "$variant"
	done
fi

exit "$fail"
