#!/usr/bin/env bash
# make bench, PostgreSQL part: one node, then two nodes, on a throw-away
# cluster (initdb + pg_ctl on a free port, as the postgres user under root;
# synchronous_commit on); the servers pinned to core 0 and the load
# generator to core 1 like the rest (PostgreSQL itself is not pinned).
# Skipped when Debian's postgresql is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$BIN" ]; then echo "== PostgreSQL: not installed (make setup), skipped"; exit 0; fi
AS=(); [ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)
PGDIR=$(mktemp -d); DATA=$(mktemp -d)
[ "$(id -u)" = 0 ] && chmod 755 "$PGDIR" && chown postgres:postgres "$PGDIR"
PGPORT=${BENCH_PG_PORT:-55432}; PORT=${BENCH_PORT:-3210}
"${AS[@]}" "$BIN/initdb" -A trust -U chat -D "$PGDIR/data" >/dev/null
"${AS[@]}" "$BIN/pg_ctl" start -w -D "$PGDIR/data" -l "$PGDIR/log" \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" >/dev/null
trap '"${AS[@]}" "$BIN/pg_ctl" stop -w -m fast -D "$PGDIR/data" >/dev/null; rm -rf "$PGDIR" "$DATA"' EXIT
PIN_S=""; PIN_C=""
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then PIN_S="taskset -c 0"; PIN_C="taskset -c 1"; fi
# run NODES TITLE LOADGEN-ARGS…: NODES servers on one database (ports PORT,
# PORT+1, …), the room's members split evenly over them, CPU summed.
run() {
  local nodes=$1 title=$2; shift 2
  local pids=() urls=()
  for n in $(seq 0 $((nodes - 1))); do
    local port=$((PORT + n))
    LEPTOS_SITE_ADDR=127.0.0.1:$port LEPTOS_OUTPUT_NAME=chat RUST_LOG=warn CHAT_OPS_ADDR=127.0.0.1:0 \
      CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 CHAT_DATA_DIR="$DATA/$n" CHAT_SYNC=full \
      CHAT_IDENTITY_BURST=1000000 CHAT_MAX_CONNECTIONS_PER_IP=1000000 CHAT_REQUEST_BURST=1000000 \
      CHAT_DATABASE_URL="postgres://chat@127.0.0.1:$PGPORT/postgres" $PIN_S ./target/release/chat &
    pids+=($!); urls+=("ws://127.0.0.1:$port/ws")
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  done
  echo "== PostgreSQL, $nodes node(s): $title"
  $PIN_C ./target/release/loadgen fanout --url "$(IFS=,; echo "${urls[*]}")" "$@" \
    --server-pid "$(IFS=,; echo "${pids[*]}")"
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
}
for nodes in 1 2; do
  run $nodes "persisted and delivered, 100 members, as fast as delivered" \
    --room pgdur$nodes --members 100 --senders 8 --window 256 --seconds 10
  run $nodes "latency, 1000 members, 100 messages/s" \
    --room pglat$nodes --members 1000 --senders 4 --rate 100 --seconds 10
done
# A fallback POST at the node holding its session against one handed over
# from the other node (medians of $BENCH_RUNS runs of 300 each).
handoff() {
  local pids=()
  for n in 0 1; do
    local port=$((PORT + n))
    LEPTOS_SITE_ADDR=127.0.0.1:$port LEPTOS_OUTPUT_NAME=chat RUST_LOG=warn CHAT_OPS_ADDR=127.0.0.1:0 \
      CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 CHAT_DATA_DIR="$DATA/h$n" \
      CHAT_REQUEST_BURST=1000000 CHAT_DATABASE_URL="postgres://chat@127.0.0.1:$PGPORT/postgres" \
      $PIN_S ./target/release/chat &
    pids+=($!)
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  done
  echo "== PostgreSQL, 2 nodes: fallback POSTs at the session's node and handed over (1.2)"
  for _ in $(seq "${BENCH_RUNS:-3}"); do $PIN_C python3 .ci/handoff.py "$PORT" "$((PORT + 1))" 300; done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
}
handoff
