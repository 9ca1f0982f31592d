#!/usr/bin/env bash
# A demo a newcomer can watch: set up, build, start the bundled test control
# plane on loopback with one node and two queued tasks, and run the agent
# against it for a few heartbeats.  The control plane prints one line per
# request it receives; the agent logs to stderr.  Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${DEMO_SECONDS:-15}
contrib/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build src/lattice-agent >/dev/null

work=$(mktemp -d)
cp_pid= agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
	[ -n "$cp_pid" ] && kill "$cp_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for the control plane.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=demo-token-$RANDOM$RANDOM
printf '%s\n' "$token" >"$work/node-token"
chmod 600 "$work/node-token"

echo "== control plane on http://127.0.0.1:$port (node demo-node)"
python3 -u tests/controlplane/controlplane.py --listen "127.0.0.1:$port" \
    --node "demo-node:$token" \
    --task 'sh:echo "hello from a task on $(uname -n)"' \
    --task 'python3:import platform; print("python", platform.python_version())' \
    | sed -u 's/^/[control plane] /' &
cp_pid=$!

# Wait until it answers /api/health (bounded: 5 s).
python3 - "$port" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 5
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/health", timeout=1)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("control plane did not start")
        time.sleep(0.05)
PY

exec_flags=(-allow-exec)
[ "$(id -u)" -eq 0 ] && exec_flags+=(-allow-root-exec)

echo "== lattice-agent for ${seconds}s: hello, heartbeats every 2s, tasks"
build/src/lattice-agent -server "http://127.0.0.1:$port" -node-id demo-node \
    -token-file "$work/node-token" -interval 2s -state-dir "$work/state" \
    "${exec_flags[@]}" &
agent_pid=$!
sleep "$seconds"
echo "== stopping the agent (SIGTERM)"
kill -TERM "$agent_pid"
wait "$agent_pid" && echo "== agent exited 0" || echo "== agent exited $?"
agent_pid=
