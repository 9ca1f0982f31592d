#!/bin/bash
# Integration test for --update-nft-domain-set against real nftables.
#
# Runs as root in a private network and mount namespace (unshare -n -m):
# a temporary hosts file and an empty resolv.conf are bind-mounted over
# /etc, an inet table with an IPv4 and an IPv6 set is created with stale
# elements, and the agent must leave exactly the expected elements, change
# nothing when nft fails on the second set or the name has no answer, and
# stop with status 2 before running anything on bad arguments.
#
# usage: test_nft.sh AGENT   (the lattice-agent binary)
# Exit 77 (skipped) where root, unshare or nft is unavailable.
set -u

agent=${1:?usage: test_nft.sh AGENT}
skip() { echo "SKIP: $*"; exit 77; }

if [ -z "${LATTICE_NFT_TEST_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || skip "needs root (nft in a private namespace)"
	command -v unshare >/dev/null || skip "unshare not installed"
	[ -x /usr/sbin/nft ] || command -v nft >/dev/null ||
	    skip "nft not installed"
	unshare -n -m true 2>/dev/null ||
	    skip "unshare -n -m not permitted here"
	exec unshare -n -m env LATTICE_NFT_TEST_INNER=1 \
	    bash "$0" "$@"
fi

nft=$(command -v nft || echo /usr/sbin/nft)
nft list tables >/dev/null 2>&1 || skip "nft cannot talk to netfilter here"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
n=0

cat >"$tmp/hosts" <<'HOSTS'
127.0.0.1	localhost
10.0.0.10	ctl.test
2001:db8::10	ctl.test
192.0.2.1	ctl.test
10.0.0.2	ctl.test
2001:db8::2	ctl.test
10.0.0.10	ctl.test
9.9.9.9		ctl.test
2001:db8::10	ctl.test
10.0.0.2	CTL.test
10.7.7.7	v4only.test
2001:db8::77	v6only.test
10.8.8.8	other.test
2001:db8::88	other.test
HOSTS
: >"$tmp/resolv.conf"
mount --bind "$tmp/hosts" /etc/hosts || skip "cannot bind-mount /etc/hosts"
mount --bind "$tmp/resolv.conf" /etc/resolv.conf ||
    skip "cannot bind-mount /etc/resolv.conf"

# A fake nft that only records that it ran (validation must stop first).
cat >"$tmp/fake-nft" <<FAKE
#!/bin/sh
touch "$tmp/fake-ran"
exit 0
FAKE
chmod 755 "$tmp/fake-nft"

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }

# Elements of set inet t $1, sorted numerically, space separated.
elems() {
	"$nft" -j list set inet t "$1" | python3 -c '
import ipaddress, json, sys
doc = json.load(sys.stdin)
out = []
for obj in doc["nftables"]:
    s = obj.get("set")
    if s is None:
        continue
    for e in s.get("elem", []):
        out.append(ipaddress.ip_address(e))
print(" ".join(str(a) for a in sorted(out)))
'
}

expect_set() {	# set expected description
	local got
	got=$(elems "$1")
	if [ "$got" = "$2" ]; then
		ok "$3: $1 = {$2}"
	else
		not_ok "$3: $1 = {$got}, want {$2}"
	fi
}

run() {	# expected-status description args...
	local want=$1 what=$2 rc
	shift 2
	"$agent" --update-nft-domain-set "$@" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" = "$want" ]; then
		ok "$what: exit $rc"
	else
		not_ok "$what: exit $rc, want $want"
		sed 's/^/#   /' "$tmp/out"
	fi
}

expect_log() {	# pattern description
	if grep -q -- "$1" "$tmp/out"; then
		ok "$2"
	else
		not_ok "$2: no \"$1\" in output"
		sed 's/^/#   /' "$tmp/out"
	fi
}

"$nft" -f - <<'NFT' || { echo "Bail out! cannot create the test table"; exit 1; }
table inet t {
	set s4 { type ipv4_addr; }
	set s6 { type ipv6_addr; }
}
add element inet t s4 { 172.16.0.1, 10.0.0.99 }
add element inet t s6 { fd00::1 }
NFT

want4="9.9.9.9 10.0.0.2 10.0.0.10 192.0.2.1"
want6="2001:db8::2 2001:db8::10"

# 1. Both sets from a name with unsorted, duplicated answers.
run 0 "update both sets" -host " CTL.Test. " -family inet -table t \
    -set s4 -set6 s6 -nft "$nft"
expect_log "ipv4=4" "success line counts IPv4"
expect_log "ipv6=2" "success line counts IPv6"
expect_set s4 "$want4" "after update"
expect_set s6 "$want6" "after update"

# 2. Both sets, IPv4-only name: the IPv6 set is emptied.
run 0 "IPv4-only name" -host v4only.test -table t -set s4 -set6 s6
expect_set s4 "10.7.7.7" "IPv4-only name"
expect_set s6 "" "IPv4-only name"

# 3. -set6 alone through LATTICE_NFT.
LATTICE_NFT="$nft" run 0 "IPv6 set alone" -host ctl.test -family inet \
    -table t -set6 s6
expect_set s6 "$want6" "IPv6 set alone"
expect_set s4 "10.7.7.7" "IPv6 set alone leaves IPv4"
run 0 "restore" -host ctl.test -table t -set s4 -set6 s6

# 4. nft fails on the second set: nothing changes, exit 1, nft's words.
run 1 "second set missing" -host other.test -family inet -table t \
    -set s4 -set6 nosuch
expect_log "nosuch" "nft's error is in the message"
expect_set s4 "$want4" "after failed batch"
expect_set s6 "$want6" "after failed batch"

# 5. Names without the needed answers: exit 1, sets untouched.
run 1 "IPv4 set, IPv6-only name" -host v6only.test -table t -set s4
expect_log "v6only.test has no IPv4" "message names host and family"
run 1 "IPv6 set, IPv4-only name" -host v4only.test -table t -set6 s6
expect_set s4 "$want4" "after missing answers"
expect_set s6 "$want6" "after missing answers"

# 6. Usage errors: exit 2 before resolving or running nft.
rm -f "$tmp/fake-ran"
run 2 "bad family" -host ctl.test -family arp -table t -set s4 \
    -nft "$tmp/fake-nft"
run 2 "bad set name" -host ctl.test -table t -set "s4;flush" \
    -nft "$tmp/fake-nft"
run 2 "IPv6 set in family ip" -host ctl.test -family ip -table t \
    -set6 s6 -nft "$tmp/fake-nft"
run 2 "no set" -host ctl.test -table t -nft "$tmp/fake-nft"
run 2 "bad host" -host "ctl_test" -table t -set s4 -nft "$tmp/fake-nft"
run 2 "relative -nft" -host ctl.test -table t -set s4 -nft nft
if [ -e "$tmp/fake-ran" ]; then
	not_ok "nft ran despite a usage error"
else
	ok "nft never ran on usage errors"
fi
expect_set s4 "$want4" "after usage errors"
expect_set s6 "$want6" "after usage errors"

echo "1..$n"
[ "$failures" = 0 ]
