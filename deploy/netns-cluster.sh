#!/usr/bin/env bash
# A BenchFS cluster of N "hosts" on this one machine, each with its own network stack.
#
#   deploy/netns-cluster.sh up N          build hosts 1..N and start one benchfsd in each
#   deploy/netns-cluster.sh exec I CMD..  run CMD inside host I (BENCHFS_REGISTRY is set)
#   deploy/netns-cluster.sh status        list the hosts, their addresses and servers
#   deploy/netns-cluster.sh down          remove everything `up` made (idempotent)
#
# Each host I is a network namespace PREFIX-hI with one interface, eth0, address
# 10.213.0.(10+I)/24. Its veth peer hangs on a bridge that lives in its own namespace
# (PREFIX-sw), so nothing is added to this machine's own network stack: no address,
# no route, no link, and the hosts can reach each other and nothing else (they have
# no default route). benchfsd in host I listens on 10.213.0.(10+I):PORT, its data
# directory and log are in STATE/hI, and all of them register in STATE/registry
# (network namespaces share the file system, as nodes share a parallel file system).
#
# Environment:
#   BENCHFS_BIN_DIR        where benchfsd and benchfs are (default: target/release of
#                          this checkout, else target/debug)
#   BENCHFS_NETNS_PREFIX   namespace name prefix (default: benchfs)
#   BENCHFS_NETNS_STATE    state directory (default: /run/benchfs-netns-PREFIX)
#   BENCHFS_NETNS_PORT     server port inside each host (default: 7070)
#   BENCHFS_NETNS_THREADS  --threads of each benchfsd (default: 1)
# Needs root and iproute2 (`ip`). `down` also runs after a failed `up`.
set -euo pipefail

PREFIX=${BENCHFS_NETNS_PREFIX:-benchfs}
STATE=${BENCHFS_NETNS_STATE:-/run/benchfs-netns-$PREFIX}
PORT=${BENCHFS_NETNS_PORT:-7070}
THREADS=${BENCHFS_NETNS_THREADS:-1}
SUBNET=10.213.0
SWITCH="$PREFIX-sw"
MAX_HOSTS=200

die() {
  echo "netns-cluster: $*" >&2
  exit 1
}

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces need CAP_NET_ADMIN); try: sudo $0 $*"
  command -v ip >/dev/null || die "'ip' not found: install iproute2"
}

host_ns() { echo "$PREFIX-h$1"; }
host_ip() { echo "$SUBNET.$((10 + $1))"; }

bin_dir() {
  if [[ -n ${BENCHFS_BIN_DIR:-} ]]; then
    echo "$BENCHFS_BIN_DIR"
    return
  fi
  local root
  root=$(cd "$(dirname "$0")/.." && pwd)
  if [[ -x $root/target/release/benchfsd ]]; then
    echo "$root/target/release"
  else
    echo "$root/target/debug"
  fi
}

# Namespaces this cluster made, from `ip netns list` (the state dir may be gone).
our_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-(sw|h[0-9]+)$" || true
}

# Stops the processes running inside one namespace: TERM, up to 5 s, then KILL.
stop_ns_processes() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -z $pids ]] && return 0
  # shellcheck disable=SC2086 # one pid per word
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  echo "netns-cluster: $ns: processes $pids ignored SIGTERM; killing" >&2
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
}

cmd_down() {
  need_root "down"
  local ns pidfile pid
  # Servers first, by the pid they recorded (they may have left their namespace's
  # process list if the namespace is already gone), then whatever else runs inside.
  if [[ -d $STATE ]]; then
    for pidfile in "$STATE"/h*/pid; do
      [[ -f $pidfile ]] || continue
      pid=$(<"$pidfile")
      if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--data-dir $STATE/"; then
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done
  fi
  for ns in $(our_namespaces); do
    stop_ns_processes "$ns"
  done
  for ns in $(our_namespaces); do
    # Deleting a namespace deletes its interfaces (veth ends and the bridge) with it.
    ip netns delete "$ns" 2>/dev/null || echo "netns-cluster: cannot delete namespace $ns" >&2
  done
  rm -rf "$STATE"
  if [[ -n $(our_namespaces) ]]; then
    die "namespaces left: $(our_namespaces | tr '\n' ' ')"
  fi
  echo "netns-cluster: down"
}

# Waits until host I's server printed its listening line (or died).
wait_listening() {
  local i=$1 dir=$STATE/h$1 t
  for ((t = 0; t < 200; t++)); do
    if grep -q "^benchfsd listening on " "$dir/stdout" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$(<"$dir/pid")" 2>/dev/null; then
      echo "netns-cluster: benchfsd of host $i exited; its log:" >&2
      cat "$dir/log" >&2 || true
      return 1
    fi
    sleep 0.05
  done
  echo "netns-cluster: benchfsd of host $i did not start within 10 s; its log:" >&2
  cat "$dir/log" >&2 || true
  return 1
}

cmd_up() {
  local n=${1:-}
  need_root "up $n"
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > MAX_HOSTS)); then
    die "up: N must be 1..$MAX_HOSTS"
  fi
  if [[ -e $STATE || -n $(our_namespaces) ]]; then
    die "a cluster with prefix '$PREFIX' is already up (or half down): run '$0 down' first"
  fi
  local bin
  bin=$(bin_dir)
  [[ -x $bin/benchfsd ]] || die "no benchfsd in $bin: build first (cargo build --release) or set BENCHFS_BIN_DIR"

  # From here on, any failure tears down what was made so far.
  trap 'echo "netns-cluster: up failed; cleaning up" >&2; cmd_down >/dev/null 2>&1 || true' ERR
  set -E
  mkdir -p "$STATE/registry"
  echo "$n" >"$STATE/hosts"

  ip netns add "$SWITCH"
  ip -n "$SWITCH" link set lo up
  ip -n "$SWITCH" link add br0 type bridge
  ip -n "$SWITCH" link set br0 up

  local i ns
  for ((i = 1; i <= n; i++)); do
    ns=$(host_ns "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # The pair is created inside the switch namespace, its host end moved straight
    # into the host's namespace: neither end ever exists in this machine's stack.
    ip -n "$SWITCH" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$SWITCH" link set "h$i" master br0 up
    ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
  done

  for ((i = 1; i <= n; i++)); do
    ns=$(host_ns "$i")
    mkdir -p "$STATE/h$i"
    # setsid: the server outlives this script and gets no terminal signals.
    RUST_LOG=${RUST_LOG:-info} setsid ip netns exec "$ns" "$bin/benchfsd" \
      --listen "$(host_ip "$i"):$PORT" --data-dir "$STATE/h$i/data" \
      --registry "$STATE/registry" --threads "$THREADS" --expect "$n" \
      >"$STATE/h$i/stdout" 2>"$STATE/h$i/log" </dev/null &
    echo $! >"$STATE/h$i/pid"
  done
  for ((i = 1; i <= n; i++)); do
    wait_listening "$i"
  done
  # Every server must be reachable from every host: that is the multi-host path.
  for ((i = 1; i <= n; i++)); do
    ip netns exec "$(host_ns "$i")" "$bin/benchfs" --registry "$STATE/registry" --timeout 5 status >/dev/null ||
      { echo "netns-cluster: host $i cannot reach every server" >&2; false; }
  done
  trap - ERR
  echo "netns-cluster: $n hosts up; registry $STATE/registry"
  for ((i = 1; i <= n; i++)); do
    echo "  host $i: namespace $(host_ns "$i"), benchfsd on $(host_ip "$i"):$PORT (pid $(<"$STATE/h$i/pid"))"
  done
}

cmd_exec() {
  local i=${1:-}
  need_root "exec"
  [[ $i =~ ^[0-9]+$ ]] || die "exec: give a host number, then the command"
  shift
  (($#)) || die "exec: no command given"
  ip netns list | awk '{print $1}' | grep -qx "$(host_ns "$i")" || die "host $i is not up"
  exec ip netns exec "$(host_ns "$i")" env BENCHFS_REGISTRY="$STATE/registry" "$@"
}

cmd_status() {
  need_root "status"
  [[ -f $STATE/hosts ]] || die "no cluster up (state $STATE)"
  local n i pid alive
  n=$(<"$STATE/hosts")
  echo "registry: $STATE/registry"
  for ((i = 1; i <= n; i++)); do
    pid=$(cat "$STATE/h$i/pid" 2>/dev/null || echo "?")
    alive=stopped
    kill -0 "$pid" 2>/dev/null && alive=running
    echo "host $i: $(host_ns "$i") $(host_ip "$i"):$PORT benchfsd pid $pid $alive"
  done
}

case ${1:-} in
  up) shift && cmd_up "$@" ;;
  down) cmd_down ;;
  exec) shift && cmd_exec "$@" ;;
  status) cmd_status ;;
  *) usage ;;
esac
