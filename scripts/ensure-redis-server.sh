#!/usr/bin/env bash
# Makes sure `redis-server` is installed: the tests and `make run` start their
# own. Installs it with the system package manager when that is possible
# without asking; otherwise prints the one command to run and fails.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  fi
fi

if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
  echo "redis-server is not installed; installing it..." >&2
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $sudo dnf install -y -q redis
  elif command -v apk >/dev/null 2>&1; then
    $sudo apk add --quiet redis
  elif command -v brew >/dev/null 2>&1; then
    brew install redis
  fi
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "error: redis-server is not installed and could not be installed automatically." >&2
  if command -v apt-get >/dev/null 2>&1; then
    echo "  run: sudo apt-get install redis-server" >&2
  elif command -v dnf >/dev/null 2>&1; then
    echo "  run: sudo dnf install redis" >&2
  elif command -v brew >/dev/null 2>&1; then
    echo "  run: brew install redis" >&2
  else
    echo "  install Redis 6 or newer so that redis-server is on your PATH" >&2
  fi
  exit 1
fi
