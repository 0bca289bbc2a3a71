#!/bin/sh
# The disk of the cgroup v2 test VM: Debian bookworm (debootstrap) with Debian's own kernel
# (linux-image-amd64, its initramfs has the virtio drivers), the packages scripts/install.sh
# wants (so that it runs unchanged with no network in the guest), and a tiny init that mounts
# the project share and runs tests/vm/guest-init.sh from it.
# Usage: sh tests/vm/build-guest.sh OUT "PACKAGES" -> OUT.img, OUT.vmlinuz, OUT.initrd
set -eu
OUT=${1:?usage: build-guest.sh OUT PACKAGES}
PACKAGES=${2:?usage: build-guest.sh OUT PACKAGES}
MIRROR=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
ROOT="$OUT.root"
rm -rf "$ROOT"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/dev/null
# apt (not debootstrap's --include) resolves virtual packages such as podman's network stack
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"   # start no service in the chroot
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
chroot "$ROOT" apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get install -y -qq --no-install-recommends \
    linux-image-amd64 kmod $PACKAGES >/dev/null
umount "$ROOT/proc"
rm -f "$ROOT/usr/sbin/policy-rc.d"
cat > "$ROOT/sbin/pocketbox-vm-init" <<'INIT'
#!/bin/sh
# PID 1 of the test VM: the basics, then the script of the tests from the project share.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys        # (the initramfs moved these over)
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
modprobe 9pnet_virtio
modprobe 9p
mkdir -p /mnt/project
mount -t 9p -o trans=virtio,version=9p2000.L,ro project /mnt/project
exec /bin/sh /mnt/project/tests/vm/guest-init.sh
INIT
chmod 755 "$ROOT/sbin/pocketbox-vm-init"
cp "$ROOT"/boot/vmlinuz-* "$OUT.vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$OUT.initrd"
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
mkfs.ext4 -q -F -L pocketbox-vm -d "$ROOT" "$OUT.img" 4G
rm -rf "$ROOT"
