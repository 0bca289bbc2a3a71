#!/bin/sh
# Install pocketbox and everything its tests need on Debian 12, as root:
#   system packages, a virtualenv in /opt/pocketbox with pocketbox built from this checkout,
#   and /usr/local/bin/pocketbox on root's PATH (so `sudo pocketbox ...` works).
# This is also the Vagrant box's provisioning script; it is plain POSIX sh on purpose.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${POCKETBOX_PREFIX:-/opt/pocketbox}

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (sudo sh scripts/install.sh)" >&2
    exit 1
fi

# Runtime: python3 + a C compiler for the cffi extension. Tests and benchmarks: the registry,
# skopeo/umoci/podman/runc as peers, busybox-static and debootstrap for the test images, qemu
# and e2fsprogs for the cgroup v2 VM test (tests/vm).
PACKAGES="python3 python3-venv python3-dev gcc libffi-dev ca-certificates \
  libseccomp-dev iproute2 nftables util-linux zstd docker-registry skopeo umoci runc podman busybox-static debootstrap \
  qemu-system-x86 e2fsprogs"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x "$PREFIX/venv/bin/python" ]; then
    /usr/bin/python3 -m venv "$PREFIX/venv"
fi
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
"$PREFIX/venv/bin/python" -m pip install -q "$SRC[test]"

ln -sf "$PREFIX/venv/bin/pocketbox" /usr/local/bin/pocketbox
echo "pocketbox installed: $(/usr/local/bin/pocketbox --version)"
