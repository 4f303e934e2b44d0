#!/usr/bin/env bash
# Purchase POST throughput and p99, durable, beside a bare net/http handler (needs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "installing wrk (Debian)"; apt-get install -y -qq wrk >/dev/null; }
exec go run ./bench/purchase "$@"
