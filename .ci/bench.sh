#!/usr/bin/env bash
# The standard benchmarks (`make bench`): a release server with a fresh data
# directory and the load generator on this machine, over loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"

PORT=${BENCH_PORT:-3210}
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT

start_server() {
  LEPTOS_SITE_ADDR=127.0.0.1:$PORT LEPTOS_OUTPUT_NAME=chat RUST_LOG=warn \
    CHAT_RATE_PER_SEC=1000000 CHAT_RATE_BURST=1000000 CHAT_DATA_DIR="$DATA" \
    ./target/release/chat &
  SERVER=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill -TERM $SERVER; wait $SERVER || true; }

LG="./target/release/loadgen"
URL="ws://127.0.0.1:$PORT/ws"
# Each scenario gets a freshly started server (same data directory): when a
# scenario's 1,000 clients leave at once, the presence notices of their
# departures would otherwise still be going out during the next measurement.
scenario() {
  local title=$1; shift
  start_server
  echo "== $title"
  "$@"
  stop_server
}
scenario "fan-out: 1000 members, as fast as delivered" \
  $LG fanout --url "$URL" --room fan --members 1000 --senders 4 --window 256 --seconds 10
scenario "latency: 1000 members, 100 messages/s" \
  $LG fanout --url "$URL" --room lat --members 1000 --senders 4 --rate 100 --seconds 10
scenario "persisted and delivered: 100 members, as fast as delivered" \
  $LG fanout --url "$URL" --room dur --members 100 --senders 8 --window 256 --seconds 10
scenario "persisted and delivered: 10 members (the store's own pace)" \
  $LG fanout --url "$URL" --room store --members 10 --senders 8 --window 512 --seconds 10
start_server
sleep 1
echo "== memory: 2000 idle connections joined to a room (fresh server)"
$LG idle --url "$URL" --room idle --members 2000 --server-pid $SERVER
stop_server
start_server
sleep 1
echo "== memory and join time: 10000 idle connections joined to one room (fresh server)"
$LG idle --url "$URL" --room crowd --members 10000 --server-pid $SERVER
stop_server

echo "== on disk"
python3 - "$DATA/chat.sqlite3" <<'PY'
import sqlite3, os, sys
path = sys.argv[1]
db = sqlite3.connect(path)
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
rows = dict(db.execute("SELECT r.name, COUNT(m.id) FROM rooms r LEFT JOIN messages m ON m.room_id = r.id GROUP BY r.name"))
total = sum(rows.values())
size = os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)
print(f"{total} messages stored, {size/1024/1024:.1f} MiB: {size/total*1000/1024:.1f} KiB per 1,000 messages (100-byte texts)")
print("messages per room:", rows)
PY
