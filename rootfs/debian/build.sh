#!/bin/sh
# Build a Debian bookworm minbase root filesystem in DIR with debootstrap (about 175 MB),
# from the mirror apt already uses, then drop apt's caches (as the official image does).
# Usage: sh rootfs/debian/build.sh DIR [MIRROR]
set -eu
DIR=${1:?usage: build.sh DIR [MIRROR]}
MIRROR=${2:-}
if [ -z "$MIRROR" ]; then
    MIRROR=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    [ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
fi
[ -n "$MIRROR" ] || { echo "build.sh: no Debian mirror found; pass one" >&2; exit 1; }
debootstrap --variant=minbase bookworm "$DIR" "$MIRROR" >/dev/null
rm -rf "$DIR"/var/cache/apt/*.bin "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/lib/apt/lists/*
echo "debian rootfs ready in $DIR"
