#!/usr/bin/env bash
# `make run`: a worker in the foreground running examples/hello.js.
#
# Uses the Redis at HATS_REDIS_ADDRESS (default 127.0.0.1:6379) when one
# answers there; otherwise starts a throwaway redis-server on a free port and
# stops it again when the worker exits. Ctrl-C stops the worker cleanly: it
# runs the thread's cleanup() and releases it before exiting.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug
address="${HATS_REDIS_ADDRESS:-127.0.0.1:6379}"
host="${address%:*}"
port="${address##*:}"

answers() {
  # A PING over bash's /dev/tcp, so redis-cli is not needed.
  local h=$1 p=$2 reply
  # The braces keep the redirection of errors to this one connect; on
  # `exec` itself it would silence the rest of the script too.
  { exec 3<>"/dev/tcp/$h/$p"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&-
  case "$reply" in
    +PONG* | -NOAUTH*) return 0 ;;
    *) return 1 ;;
  esac
}

tmp=""
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    echo "stopped the throwaway redis-server on port $port" >&2
  fi
  if [ -n "$tmp" ]; then
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

if answers "$host" "$port"; then
  echo "using the Redis at $address" >&2
else
  port=""
  for p in $(seq 6390 6490); do
    if ! { (exec 3<>"/dev/tcp/127.0.0.1/$p"); } 2>/dev/null; then
      port=$p
      break
    fi
  done
  if [ -z "$port" ]; then
    echo "error: no Redis answers at $address and no free port in 6390-6490 for a throwaway one" >&2
    exit 1
  fi
  tmp=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
    --logfile "$tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 50); do
    answers 127.0.0.1 "$port" && break
    sleep 0.1
  done
  if ! answers 127.0.0.1 "$port"; then
    echo "error: the throwaway redis-server did not start; its log:" >&2
    cat "$tmp/redis.log" >&2 || true
    exit 1
  fi
  address="127.0.0.1:$port"
  echo "no Redis answered at ${HATS_REDIS_ADDRESS:-127.0.0.1:6379}; started a throwaway redis-server at $address" >&2
fi

export HATS_REDIS_ADDRESS="$address"
"$bin/hatter" threads add examples/hello.js
echo "running a worker; in another terminal: HATS_REDIS_ADDRESS=$address $bin/hatter threads list" >&2
echo "press Ctrl-C to stop" >&2
status=0
"$bin/worker" --health-port 0 || status=$?
exit "$status"
