#!/bin/sh
# Shared by install.sh and test.sh (sourced, POSIX sh): install Debian packages that are missing,
# starting none of the services they bring (the tests start their own registry and dockerd) and
# enabling none where systemd runs.
install_packages() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    export DEBIAN_FRONTEND=noninteractive
    had_policy=0
    [ -e /usr/sbin/policy-rc.d ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing || status=$?
    [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
    if command -v systemctl >/dev/null 2>&1; then  # (disable works without a running systemd too)
        now=""
        [ -d /run/systemd/system ] && now="--now"
        for unit in docker.service docker.socket containerd.service docker-registry.service; do
            systemctl disable $now "$unit" >/dev/null 2>&1 || true
        done
    fi
    return "${status:-0}"
}
