#!/bin/sh
# Run the whole test suite (as root) with the interpreter scripts/install.sh set up. On first use
# it installs what only the tests need: the peers and clients they compare with or drive (podman,
# buildah, runc, containerd, skopeo, umoci, Docker's dockerd, docker-compose), the registry, busybox-static
# and debootstrap for the test images, qemu for the cgroup v2 VM, Chromium and its driver for the
# web page, pytest, Selenium, and docker-py (a second Engine API client). Extra arguments go to pytest
# (sh scripts/test.sh -m "not vm" -x).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=${POCKETBOX_PREFIX:-/opt/pocketbox}/venv/bin/python
[ -x "$PY" ] || { echo "test.sh: run scripts/install.sh first" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "test.sh: run it as root" >&2; exit 1; }

TEST_PACKAGES="docker-registry skopeo umoci runc podman containerd buildah docker.io docker-compose busybox-static debootstrap \
  qemu-system-x86 e2fsprogs chromium chromium-driver"
. "$SRC/scripts/packages.sh"
install_packages $TEST_PACKAGES
"$PY" -c "import pytest, cryptography, docker, selenium" 2>/dev/null || \
    "$PY" -m pip install -q "pytest>=7" "cryptography>=38" "docker>=7" "selenium>=4.10"

cd "$SRC"
set +e
# Not /tmp: creating files there is ~20x slower than elsewhere on our machines' disks.
BASETEMP=${POCKETBOX_TEST_TMP:-/var/lib/pocketbox-tests}
mkdir -p "$BASETEMP"
"$PY" -m pytest -ra --basetemp="$BASETEMP/run" "$@" tests
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
