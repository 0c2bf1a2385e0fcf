#!/usr/bin/env bash
# Makes sure OpenMPI (mpirun, the headers and libraries the `mpi` feature builds against)
# and libclang (rsmpi's bindgen) are installed: as root, with apt-get when missing;
# otherwise it fails with the command to run.
set -euo pipefail

PACKAGES=(openmpi-bin libopenmpi-dev libclang-dev)

have() {
    command -v mpirun >/dev/null 2>&1 && command -v mpicc >/dev/null 2>&1 &&
        ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}

if have; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_mpi: installing ${PACKAGES[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2
fi
if ! have; then
    echo "ensure_mpi: OpenMPI or libclang is missing; install them with:" >&2
    echo "    sudo apt-get install ${PACKAGES[*]}" >&2
    exit 1
fi
