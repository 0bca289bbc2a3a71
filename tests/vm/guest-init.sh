#!/bin/sh
# PID 1 of the test VM, after /sbin/pocketbox-vm-init: a host with only cgroup2 and no network
# but loopback. Provisions pocketbox as Vagrant does (the Vagrantfile's provisioners; pip reads
# the wheels the test downloaded on the host), runs checks.py, leaves the results on the
# results share and powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
RESULTS=/mnt/results
mkdir -p "$RESULTS"
mount -t 9p -o trans=virtio,version=9p2000.L results "$RESULTS"
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# what systemd does on a cgroup v2 host: the controllers are available to child cgroups
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up
hostname pocketbox-vm
echo "guest: $(uname -r), $(grep -c . /proc/self/mountinfo) mounts, cgroup: $(stat -f -c %T /sys/fs/cgroup)"

# Provisioning as Vagrant does it, from the Vagrantfile's own provisioners (the test extracted them
# to provision.env): the "file" provisioner's upload of the checkout (a user's checkout: no build
# products), then the "shell" provisioner's inline script, written to a file and run by bash as root.
. "$RESULTS/provision.env"
mkdir -p "$UPLOAD_TO"
(cd /mnt/project && tar --exclude=./build --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ \
    --exclude=./src/pocketbox/pocketbox-monitor --exclude=./src/pocketbox/pocketbox-exec \
    --exclude=./src/pocketbox/pocketbox-proxy -cf - .) | (cd "$UPLOAD_TO" && tar xf -)
cp "$RESULTS/provision.inline" /tmp/vagrant-shell
chmod +x /tmp/vagrant-shell
start=$(date +%s)
(cd / && PIP_NO_INDEX=1 PIP_FIND_LINKS="$RESULTS/wheels" bash -l /tmp/vagrant-shell) > "$RESULTS/provision.log" 2>&1
echo "$?" > "$RESULTS/provision.rc"
echo "guest: provisioning took $(( $(date +%s) - start )) s (exit $(cat "$RESULTS/provision.rc"))"
python3 /mnt/project/tests/vm/checks.py "$RESULTS" > "$RESULTS/checks.log" 2>&1
echo "guest: checks done (exit $?)"
sync
echo 1 > /proc/sys/kernel/sysrq
echo o > /proc/sysrq-trigger
sleep 60
