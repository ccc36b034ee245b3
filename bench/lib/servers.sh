# shellcheck shell=bash
# Sourced by the shell benches: benchfsd processes on 127.0.0.1 for one run.
#
#   start_servers N DIR   # N servers with data under DIR, announced in DIR/reg; their pids
#                         # are appended to the array `servers`
#   stop_servers          # kills and reaps them (call it from the EXIT trap)

servers=()

start_servers() {
  local i
  for i in $(seq 0 $(($1 - 1))); do
    "$B/benchfsd" --listen 127.0.0.1:0 --data-dir "$2/s$i" --registry "$2/reg" >"$2/s$i.out" 2>"$2/s$i.log" &
    servers+=($!)
  done
  sleep 1
}

stop_servers() {
  if ((${#servers[@]})); then
    kill "${servers[@]}" 2>/dev/null || true
    wait "${servers[@]}" 2>/dev/null || true
  fi
}
