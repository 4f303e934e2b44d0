#!/usr/bin/env bash
# Product feed ingestion over SFTP (upload to Close), beside a bare encoding/xml streaming parse.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/ingest "$@"
