#!/bin/sh
# Build a busybox root filesystem in DIR from Debian's busybox-static (about 2 MB).
# Usage: sh rootfs/busybox/build.sh DIR
set -eu
DIR=${1:?usage: build.sh DIR}
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "build.sh: $BUSYBOX missing: apt-get install busybox-static" >&2; exit 1; }

mkdir -p "$DIR"
cd "$DIR"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp home var/log proc sys dev
chmod 1777 tmp
chmod 700 root
cp "$BUSYBOX" bin/busybox
for applet in $(bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$(dirname "$applet")"
    ln -sf /bin/busybox "$applet"
done
cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
GROUP
echo "busybox rootfs ready in $DIR"
