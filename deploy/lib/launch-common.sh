# shellcheck shell=bash
# Steps shared by deploy/slurm/benchfs.sbatch and deploy/mpirun/benchfs-launch.sh,
# sourced by both. Each launcher defines `bfs_run_on_nodes` (run a command once per
# server: srun or mpirun) and then calls these. Every function is prefixed bfs_.

bfs_log() { echo "benchfs-launch: $*" >&2; }

bfs_die() {
  bfs_log "$*"
  exit 1
}

# The first of: $BENCHFS_BIN_DIR, CHECKOUT/target/release, CHECKOUT/target/debug.
bfs_find_bin() {
  local checkout=$1
  if [[ -n ${BENCHFS_BIN_DIR:-} ]]; then
    echo "$BENCHFS_BIN_DIR"
  elif [[ -x $checkout/target/release/benchfsd ]]; then
    echo "$checkout/target/release"
  else
    echo "$checkout/target/debug"
  fi
}

bfs_count() { find "$1" -maxdepth 1 -name "$2" 2>/dev/null | wc -l; }

# bfs_wait_ready STATE N STEP_PID BIN [TIMEOUT_S]
# Waits until all N agents reported ready (server registered, mounts live), the step
# that runs them is still alive, and `benchfs status` reaches every server.
bfs_wait_ready() {
  local state=$1 n=$2 pid=$3 bin=$4 timeout=${5:-120} i
  for ((i = 0; i < timeout * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      bfs_log "the server step exited before the cluster was up; agents' output:"
      cat "$state/servers.log" >&2 2>/dev/null || true
      return 1
    fi
    if (($(bfs_count "$state/ready" '[0-9]*') >= n)); then
      break
    fi
    sleep 0.1
  done
  if (($(bfs_count "$state/ready" '[0-9]*') < n)); then
    bfs_log "only $(bfs_count "$state/ready" '[0-9]*') of $n servers ready after ${timeout} s; agents' output:"
    cat "$state/servers.log" >&2 2>/dev/null || true
    return 1
  fi
  local registered
  registered=$(bfs_count "$state/registry" 'server-*')
  ((registered == n)) || bfs_log "warning: $registered servers registered, expected $n (a stale registry?)"
  "$bin/benchfs" --registry "$state/registry" --timeout 10 status >&2 ||
    { bfs_log "some servers are unreachable"; return 1; }
}

# bfs_stop STATE STEP_PID: asks every agent to stop (STATE/stop) and waits for the
# step; after 60 s it signals the step (srun and mpirun forward SIGTERM to agents).
bfs_stop() {
  local state=$1 pid=$2 i
  touch "$state/stop"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    bfs_log "agents did not stop within 60 s; sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    sleep 5
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

# The IOR binary: $BENCHFS_IOR_BIN, else `ior` on PATH, else nothing.
bfs_ior() {
  if [[ -n ${BENCHFS_IOR_BIN:-} ]]; then
    echo "$BENCHFS_IOR_BIN"
  else
    command -v ior || true
  fi
}

# Does this IOR have the BENCHFS backend? (`ior -h` lists the modules it was built with.)
bfs_ior_has_benchfs() {
  local help
  help=$("$1" -h 2>&1 || true)
  grep -qE 'API for I/O .*[[|]BENCHFS[]|]' <<<"$help"
}

# A smoke test for when no workload can run: put a file, read it back, compare.
bfs_smoke() {
  local bin=$1 registry=$2 tmp
  tmp=$(mktemp -d)
  head -c $((8 << 20)) /dev/urandom >"$tmp/in"
  "$bin/benchfs" --registry "$registry" put "$tmp/in" /smoke.dat &&
    "$bin/benchfs" --registry "$registry" get /smoke.dat "$tmp/out" &&
    cmp "$tmp/in" "$tmp/out" && "$bin/benchfs" --registry "$registry" rm /smoke.dat
  local rc=$?
  rm -rf "$tmp"
  ((rc == 0)) && bfs_log "smoke test passed: 8 MiB written and read back bit-identical"
  return "$rc"
}

# bfs_stage stage-in|stage-out LIST LAUNCHER...
# Copies each SRC:DST pair of LIST (separated by spaces or commas; SRC and DST without
# ':') with `benchfs stage-in|stage-out SRC DST`, started through LAUNCHER (srun or
# mpirun, one process per node: each copies its share), with the extra arguments of
# BENCHFS_STAGE_ARGS. Every pair is tried, whatever failed before; returns non-zero if
# any did.
bfs_stage() {
  local dir=$1 list=$2 rc=0 pair extra
  shift 2
  read -r -a extra <<<"${BENCHFS_STAGE_ARGS:-}"
  for pair in ${list//,/ }; do
    if [[ $pair != *:* ]]; then
      bfs_log "$dir: '$pair' is not SRC:DST"
      rc=1
      continue
    fi
    bfs_log "$dir ${pair%%:*} -> ${pair#*:}"
    "$@" "$BIN/benchfs" "$dir" "${extra[@]}" "${pair%%:*}" "${pair#*:}" || rc=$?
  done
  return "$rc"
}
