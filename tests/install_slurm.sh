#!/usr/bin/env bash
# Installs the Debian packages of a single-node SLURM cluster for tests/test_slurm.py
# (called by .ci/run; the pytest fixture never installs anything itself).
#   bash tests/install_slurm.sh
# Idempotent: when every package is already installed it returns at once, with no apt-get
# update. Nothing is started (Debian starts no services without systemd); the fixture in
# tests/slurm_cluster.py starts munged, slurmctld and slurmd with a private config.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
    echo "install_slurm.sh: already installed: ${PACKAGES[*]}"
else
    if [[ $(id -u) -ne 0 ]]; then
        echo "install_slurm.sh: must run as root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
fi

# munged refuses to start without a key; the package normally creates one.
if [[ ! -s /etc/munge/munge.key ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install_slurm.sh: /etc/munge/munge.key is missing and creating it needs root" >&2
        exit 1
    fi
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

for binary in slurmctld slurmd munged sbatch squeue; do
    command -v "$binary" >/dev/null || {
        echo "install_slurm.sh: $binary is not on PATH after installing" >&2
        exit 1
    }
done
echo "install_slurm.sh: ok ($(slurmctld -V))"
