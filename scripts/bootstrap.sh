#!/usr/bin/env bash
# Make this machine ready to run harness, from a fresh Debian 12 install. Idempotent and
# quick when everything is already there. Needs root (apt, dockerd, debootstrap).
#   1. apt packages: docker.io, debootstrap, python3-venv (only those missing)
#   2. a running Docker engine (starts dockerd when `docker info` fails)
#   3. .venv with harness and its test, postgres and ssh extras
#   4. the node image (built offline with debootstrap; skipped when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*" >&2; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
# The linearizability checker's compiled core builds from source during pip install.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
python3 -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
  2>/dev/null || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/dockerd.log"; exit 3; }
fi

if [ ! -x .venv/bin/harness ] || [ pyproject.toml -nt .venv/.installed ]; then
  log "creating .venv and installing harness"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[test,postgres,ssh]'
  touch .venv/.installed
fi

.venv/bin/harness image build
