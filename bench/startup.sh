#!/usr/bin/env bash
# Start-up to a ready /_sandbox/health, and idle memory, beside a bare net/http server.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/startup "$@"
