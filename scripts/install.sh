#!/bin/sh
# Install pocketbox on Debian 12, as root: the system packages it needs, a virtualenv in
# /opt/pocketbox with pocketbox built from this checkout, and /usr/local/bin/pocketbox on root's
# PATH. What only the tests need is installed by scripts/test.sh on first use.
# This is also the Vagrant box's provisioning script; it is plain POSIX sh on purpose.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${POCKETBOX_PREFIX:-/opt/pocketbox}

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run it as root (su -c 'sh scripts/install.sh', or sudo sh scripts/install.sh)" >&2
    exit 1
fi
if [ ! -f "$SRC/pyproject.toml" ]; then
    echo "install.sh: run it from a pocketbox checkout (sh scripts/install.sh there); $SRC is not one" >&2
    exit 1
fi

# python3 and a C compiler (the cffi module, the supervisor and the static exec step), libseccomp
# for seccomp profiles, iproute2/nftables for networks and published ports, zstd for zstd layers,
# procps for `top` (the host's ps).
PACKAGES="python3 python3-venv python3-dev gcc libc6-dev libffi-dev ca-certificates \
  libseccomp-dev iproute2 nftables util-linux zstd procps"

. "$SRC/scripts/packages.sh"
install_packages $PACKAGES

if [ ! -x "$PREFIX/venv/bin/python" ]; then
    /usr/bin/python3 -m venv "$PREFIX/venv"
fi
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
"$PREFIX/venv/bin/python" -m pip install -q "$SRC"

ln -sf "$PREFIX/venv/bin/pocketbox" /usr/local/bin/pocketbox
# pocketbox-runc, the OCI runtime (docs/runtime-spec.md). Engines call it several times per
# container, so its launcher starts Python without `site` (-IS: also no PYTHON* variables), which
# shortens every call; the package is found in the virtualenv's site-packages.
SITE=$("$PREFIX/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -f /usr/local/bin/pocketbox-runc
cat > /usr/local/bin/pocketbox-runc.tmp <<EOF
#!$PREFIX/venv/bin/python -IS
"""pocketbox-runc, written by pocketbox's scripts/install.sh."""
import sys

sys.path.append("$SITE")
from pocketbox.cli.runc import entry

entry()
EOF
chmod 755 /usr/local/bin/pocketbox-runc.tmp
mv /usr/local/bin/pocketbox-runc.tmp /usr/local/bin/pocketbox-runc

# The Engine API socket (docs/daemon-and-client.md): root and the pocketbox group may use it.
getent group pocketbox >/dev/null || groupadd --system pocketbox
if [ -d /run/systemd/system ]; then  # systemd runs here: socket activation, the service starts on use
    install -m 0644 "$SRC/scripts/systemd/pocketbox.socket" "$SRC/scripts/systemd/pocketbox.service" \
        /etc/systemd/system/
    systemctl daemon-reload
    systemctl enable --now pocketbox.socket >/dev/null 2>&1 || echo "install.sh: could not enable pocketbox.socket" >&2
fi
echo "pocketbox installed: $(/usr/local/bin/pocketbox --version)"
