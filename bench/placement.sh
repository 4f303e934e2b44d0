#!/usr/bin/env bash
# Orders placed per second beside the raw POST rate; a year of monthly orders in wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/placement "$@"
