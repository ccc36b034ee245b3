# shellcheck shell=bash
# Sourced by the shell benches: benchfsd processes on 127.0.0.1 for one run.
#
#   start_servers N DIR   # N servers with data under DIR, announced in DIR/reg; their pids
#                         # are appended to the array `servers`
#   stop_servers          # kills and reaps them (call it from the EXIT trap)
#
# B is the directory holding benchfsd (a release dir); start_servers returns 1 when a
# server has not announced itself within 30 s.

servers=()

start_servers() {
  local i t
  mkdir -p "$2"
  for i in $(seq 0 $(($1 - 1))); do
    "$B/benchfsd" --listen 127.0.0.1:0 --data-dir "$2/s$i" --registry "$2/reg" >"$2/s$i.out" 2>"$2/s$i.log" &
    servers+=($!)
  done
  # Each prints this line once it has registered. A fixed second was too short on a
  # loaded machine: the client found no registry and the bench failed.
  local first=$((${#servers[@]} - $1))
  for i in $(seq 0 $(($1 - 1))); do
    for t in $(seq 300); do
      grep -q '^benchfsd listening on' "$2/s$i.out" && break
      if ((t == 300)) || ! kill -0 "${servers[first + i]}" 2>/dev/null; then
        echo "benchfsd $i in $2 did not start (30 s at most):" >&2
        cat "$2/s$i.log" >&2
        return 1
      fi
      sleep 0.1
    done
  done
}

stop_servers() {
  if ((${#servers[@]})); then
    kill "${servers[@]}" 2>/dev/null || true
    wait "${servers[@]}" 2>/dev/null || true
  fi
  servers=()
}
