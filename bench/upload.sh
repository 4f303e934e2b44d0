#!/usr/bin/env bash
# OpenSSH's sftp uploading 50 MiB to the SFTP drop site, beside OpenSSH's own sshd (internal-sftp).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sshd ] || { echo "needs OpenSSH's server: apt-get update && apt-get install -y openssh-server" >&2; exit 1; }
exec go run ./bench/upload "$@"
