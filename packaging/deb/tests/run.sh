#!/usr/bin/env bash
# The package tests of linbo-dc: each scenario installs, upgrades, removes or purges the package in
# a throwaway Debian 12 root (debootstrap minbase, cached in target/pkgtest/), never on this
# machine's own /, and checks the files, their modes and owners, dpkg's state and the systemctl
# calls the maintainer scripts made. systemctl in the root is a recording stand-in
# (systemctl-stub); deb-systemd-helper and deb-systemd-invoke are Debian's own.
#
# Scenarios: a fresh install with apt; apt installing it over a stand-in of the predecessor's
# package (build-predecessor.sh), installed, configured, enabled and running as its install.sh
# leaves it; the same over a hand install of the Python worker (no package); an upgrade from the
# previous linbo-dc version (the same build under a lower version); remove; purge.
#
# Needs root (debootstrap, chroot) and, for the first run, the Debian mirror
# (LINBO_DC_DEBIAN_MIRROR, default http://deb.debian.org/debian). Builds the packages itself from
# the dev profile's binaries (packaging/deb/build.sh --profile dev): the same files and scripts
# as the release package, without a release build.
set -euo pipefail
cd "$(dirname "$0")/../../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "package tests: they need root (debootstrap, chroot, dpkg in a test root); run them as root" >&2
    exit 1
fi
for tool in debootstrap chroot dpkg-deb lintian; do
    if ! command -v "$tool" >/dev/null; then
        echo "package tests: $tool is missing; run scripts/install-deps.sh (as root)" >&2
        exit 1
    fi
done

work=$PWD/target/pkgtest
base=$work/bookworm-minbase
mirror=${LINBO_DC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
stub=$PWD/packaging/deb/tests/systemctl-stub
started=$SECONDS

# --- the cached Debian 12 root ------------------------------------------------------------------

if [ ! -e "$base/.linbo-dc-pkgtest-complete" ]; then
    echo "package tests: building a Debian 12 minbase root in $base (once; cached)"
    rm -rf "$base" "$base.partial"
    mkdir -p "$work"
    if ! debootstrap --variant=minbase bookworm "$base.partial" "$mirror" >"$work/debootstrap.log" 2>&1; then
        echo "package tests: debootstrap from $mirror failed; its last lines:" >&2
        tail -n 20 "$work/debootstrap.log" >&2
        exit 1
    fi
    mv "$base.partial" "$base"
    touch "$base/.linbo-dc-pkgtest-complete"
fi

# --- the packages ---------------------------------------------------------------------------------

debs=$work/debs
rm -rf "$debs"
mkdir -p "$debs/current" "$debs/previous"
current=$(packaging/deb/build.sh --profile dev --fast --output "$debs/current/")
version=$(dpkg-deb -f "$current" Version)
previous=$(packaging/deb/build.sh --profile dev --fast --deb-version "${version%-*}~previous-1" --output "$debs/previous/")
predecessor=$(packaging/deb/tests/build-predecessor.sh "$debs")
echo "package tests: $(basename "$current"), $(basename "$previous"), $(basename "$predecessor") built after $((SECONDS - started)) s"

# lintian: no errors (warnings are printed; the overrides are in packaging/deb/lintian-overrides).
if lintian --fail-on error "$current"; then
    lint_ok=true
else
    lint_ok=false
fi

# --- checks ---------------------------------------------------------------------------------------

passed=0
failed=0
scenario=""
root=""

pass() { passed=$((passed + 1)); }
fail() {
    failed=$((failed + 1))
    echo "FAIL [$scenario] $*" >&2
}

# A fresh copy of the base root with the recording systemctl and /run/systemd/system (so the
# scripts act as on a booted system).
new_root() {
    scenario=$1
    root=$work/roots/$scenario
    rm -rf "$root"
    mkdir -p "$work/roots"
    cp -a "$base" "$root"
    install -m 0755 "$stub" "$root/usr/bin/systemctl"
    mkdir -p "$root/run/systemd/system" "$root/var/lib/linbo-dc-pkgtest"
    cp "$current" "$previous" "$predecessor" "$root/var/lib/linbo-dc-pkgtest/"
    : >"$root/var/log/systemctl.calls"
    : >"$work/roots/$scenario.log"
}

# Runs a command in the root; its output goes to $output (and to the scenario's log).
in_root() {
    local log=$work/roots/$scenario.log
    echo "# $*" >>"$log"
    if output=$(chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@" 2>&1); then
        echo "$output" >>"$log"
        return 0
    else
        local status=$?
        echo "$output" >>"$log"
        return "$status"
    fi
}

# Runs a step that must succeed.
step() {
    if in_root "$@"; then
        pass
    else
        fail "\`$*\` failed: $output"
    fi
}

pkg() { echo "/var/lib/linbo-dc-pkgtest/$1"; }

# PATH has MODE (octal), is owned by root:root and is a regular file (or a directory).
check_file() {
    local path=$1 mode=$2 actual
    if [ ! -e "$root$path" ] || [ -L "$root$path" ]; then
        fail "$path: missing (or a link)"
        return
    fi
    actual=$(stat -c '%a %U:%G' "$root$path")
    if [ "$actual" = "$mode root:root" ]; then pass; else fail "$path: $actual, expected $mode root:root"; fi
}

check_link() {
    local path=$1 target=$2
    if [ -L "$root$path" ] && [ "$(readlink "$root$path")" = "$target" ]; then
        pass
    else
        fail "$path: not a link to $target ($(ls -ld "$root$path" 2>&1))"
    fi
}

check_absent() {
    if [ -e "$root$1" ] || [ -L "$root$1" ]; then fail "$1: still there"; else pass; fi
}

# PATH holds exactly the bytes of FILE (outside the root).
check_content() {
    if cmp -s "$root$1" "$2"; then pass; else fail "$1: its content changed"; fi
}

check_status() {
    local actual
    actual=$(chroot "$root" dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)
    # dpkg forgets a purged package that no package list names.
    actual=${actual:-not-installed}
    if [ "$actual" = "$2" ]; then pass; else fail "dpkg status of $1: '$actual', expected '$2'"; fi
}

check_enabled() {
    if [ -L "$root/etc/systemd/system/multi-user.target.wants/$1" ]; then pass; else fail "$1 is not enabled"; fi
}

check_disabled() {
    if [ -L "$root/etc/systemd/system/multi-user.target.wants/$1" ]; then fail "$1 is enabled"; else pass; fi
}

check_active() {
    if [ -e "$root/run/systemctl-stub/active/$1" ]; then pass; else fail "$1 is not running"; fi
}

check_inactive() {
    if [ -e "$root/run/systemctl-stub/active/$1" ]; then fail "$1 is running"; else pass; fi
}

# The last step's output has TEXT.
check_output() {
    if grep -qF -- "$1" <<<"$output"; then pass; else fail "the output lacks \"$1\": $output"; fi
}

# The systemctl calls since the last reset, exactly these lines in this order.
check_calls() {
    local expected actual
    expected=$(printf '%s\n' "$@")
    actual=$(cat "$root/var/log/systemctl.calls")
    if [ "$actual" = "$expected" ]; then
        pass
    else
        fail "systemctl calls:"$'\n'"$actual"$'\n'"expected:"$'\n'"$expected"
    fi
    : >"$root/var/log/systemctl.calls"
}

reset_calls() { : >"$root/var/log/systemctl.calls"; }

# The take-over from the predecessor's package: its prerm and postrm stop and disable
# macct-worker, then linbo-dc's postinst enables (deb-systemd-helper: systemctl preset) and
# starts (deb-systemd-invoke) the worker.
check_takeover_calls() {
    check_calls \
        "systemctl stop macct-worker" \
        "systemctl disable macct-worker" \
        "systemctl daemon-reload" \
        "systemctl --root=/ --system --preset-mode=enable-only preset linbo-dc-worker.service" \
        "systemctl --system daemon-reload" \
        "systemctl --system is-enabled -- linbo-dc-worker.service" \
        "systemctl --system --quiet is-active -- linbo-dc-worker.service" \
        "systemctl --quiet --system start linbo-dc-worker.service"
}

# What the package installs, with modes.
check_installed_files() {
    check_file /usr/sbin/linbo-dc-worker 755
    check_file /usr/sbin/linbo-dc-dhcp-hook 755
    check_link /var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp /usr/sbin/linbo-dc-dhcp-hook
    check_file /lib/systemd/system/linbo-dc-worker.service 644
    check_content /lib/systemd/system/linbo-dc-worker.service config/linbo-dc-worker.service
    check_file /usr/share/doc/linbo-dc/examples/macct-worker.conf 644
    check_file /usr/share/doc/linbo-dc/examples/linbo-docker-dhcp.conf 644
    check_file /usr/share/doc/linbo-dc/copyright 644
    check_file /usr/share/man/man8/linbo-dc-worker.8.gz 644
    check_file /usr/share/man/man8/linbo-dc-worker-status.8.gz 644
    check_file /usr/share/man/man8/linbo-dc-dhcp-hook.8.gz 644
    check_file /usr/share/bash-completion/completions/linbo-dc-worker 644
    check_file /usr/share/zsh/vendor-completions/_linbo-dc-worker 644
    check_file /usr/share/fish/vendor_completions.d/linbo-dc-worker.fish 644
}

# The files remove takes away.
check_removed_files() {
    check_absent /usr/sbin/linbo-dc-worker
    check_absent /usr/sbin/linbo-dc-dhcp-hook
    check_absent /var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp
    check_absent /lib/systemd/system/linbo-dc-worker.service
    check_absent /usr/share/man/man8/linbo-dc-worker.8.gz
}

# The predecessor's package installed, then configured and started as its install.sh does
# (dc-worker/install.sh:302-303, 416-427, 443).
install_predecessor() {
    step dpkg -i "$(pkg "$(basename "$predecessor")")"
    printf 'REDIS_HOST=10.0.0.13\nAPI_URL=http://10.0.0.13:3000/api/v1\nAPI_KEY=school-secret\n' >"$root/etc/macct-worker.conf"
    chmod 0600 "$root/etc/macct-worker.conf"
    printf 'LINBO_DOCKER_IP=10.0.0.13\nSCHOOL=default-school\n' >"$root/etc/linbo-docker-dhcp.conf"
    chmod 0644 "$root/etc/linbo-docker-dhcp.conf"
    step systemctl enable macct-worker
    step systemctl start macct-worker
    cp -p "$root/etc/macct-worker.conf" "$work/roots/$scenario.macct-worker.conf"
    cp -p "$root/etc/linbo-docker-dhcp.conf" "$work/roots/$scenario.linbo-docker-dhcp.conf"
    reset_calls
}

# --- scenarios ------------------------------------------------------------------------------------

# A machine without the predecessor: the configuration is created, the worker stays disabled.
new_root fresh
step apt-get install -y --no-install-recommends "$(pkg "$(basename "$current")")"
check_output "created /etc/macct-worker.conf"
check_output "the DHCP hook is not configured"
check_output "systemctl enable --now linbo-dc-worker"
check_status linbo-dc installed
check_installed_files
check_file /etc/macct-worker.conf 600
check_content /etc/macct-worker.conf config/macct-worker.conf
check_absent /etc/linbo-docker-dhcp.conf
check_disabled linbo-dc-worker.service
check_inactive linbo-dc-worker.service
check_calls "systemctl --system daemon-reload"
step linbo-dc-worker --version
check_output "linbo-dc-worker ${version%-*}"
# check-config runs on the installed files (default-school needs its directory; the root has no
# /proc for the host name, the default consumer name).
mkdir -p "$root/etc/linuxmuster/sophomorix/default-school"
: >"$root/etc/linuxmuster/sophomorix/default-school/devices.csv"
step env CONSUMER_NAME=dc01 linbo-dc-worker check-config
check_output "REDIS_HOST"
# Through the predecessor's path, without its configuration: nothing to do, exit 0.
step /var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp -s default-school
step linbo-dc-dhcp-hook --help
# An administrator's file is never overwritten, also not by a reinstall.
echo "API_KEY=mine" >>"$root/etc/macct-worker.conf"
cp -p "$root/etc/macct-worker.conf" "$work/roots/fresh.macct-worker.conf"
step apt-get install -y --reinstall "$(pkg "$(basename "$current")")"
check_content /etc/macct-worker.conf "$work/roots/fresh.macct-worker.conf"
check_file /etc/macct-worker.conf 600

# apt over the predecessor's package, configured and running: it is removed (its conffiles stay),
# its worker stopped and disabled, its configuration kept; linbo-dc-worker enabled and started.
new_root predecessor-package
install_predecessor
step apt-get install -y --no-install-recommends "$(pkg "$(basename "$current")")"
check_status linbo-dc installed
check_status linbo-docker-dc-worker config-files
check_installed_files
check_absent /usr/local/bin/macct-worker.py
check_absent /usr/local/bin/linbo-docker-configure
check_absent /etc/systemd/system/macct-worker.service
check_file /etc/macct-worker.conf.example 644
check_content /etc/macct-worker.conf "$work/roots/$scenario.macct-worker.conf"
check_file /etc/macct-worker.conf 600
check_content /etc/linbo-docker-dhcp.conf "$work/roots/$scenario.linbo-docker-dhcp.conf"
check_file /etc/linbo-docker-dhcp.conf 644
check_disabled macct-worker.service
check_inactive macct-worker.service
check_enabled linbo-dc-worker.service
check_active linbo-dc-worker.service
check_output "linbo-dc-worker replaces the Python worker"
check_output "WARNING: linbo-docker-dc-worker is removed but not purged"
# The predecessor's prerm and postrm (remove), then linbo-dc's postinst: deb-systemd-helper enable
# (systemctl preset), deb-systemd-invoke start.
check_takeover_calls
# The warning is real: the predecessor's purge deletes both files. The README's way round it.
step sh -c 'cp -p /etc/macct-worker.conf /etc/linbo-docker-dhcp.conf /root/ && dpkg --purge linbo-docker-dc-worker'
check_absent /etc/macct-worker.conf
check_absent /etc/linbo-docker-dhcp.conf
step cp -p /root/macct-worker.conf /root/linbo-docker-dhcp.conf /etc/
check_status linbo-docker-dc-worker not-installed
check_content /etc/macct-worker.conf "$work/roots/$scenario.macct-worker.conf"
check_file /etc/macct-worker.conf 600
check_status linbo-dc installed
check_link /var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp /usr/sbin/linbo-dc-dhcp-hook

# dpkg -i over the predecessor's package: dpkg removes it in favour of linbo-dc (Conflicts and
# Replaces) during the unpack, taking over the hook's path.
new_root predecessor-dpkg
install_predecessor
step dpkg -i "$(pkg "$(basename "$current")")"
check_output "Removing linbo-docker-dc-worker"
check_status linbo-dc installed
check_status linbo-docker-dc-worker config-files
check_installed_files
check_absent /usr/local/bin/macct-worker.py
check_content /etc/macct-worker.conf "$work/roots/$scenario.macct-worker.conf"
check_file /etc/macct-worker.conf 600
check_content /etc/linbo-docker-dhcp.conf "$work/roots/$scenario.linbo-docker-dhcp.conf"
check_disabled macct-worker.service
check_inactive macct-worker.service
check_enabled linbo-dc-worker.service
check_active linbo-dc-worker.service
check_takeover_calls

# The Python worker installed by hand (install.sh, no package): its unit is still there, so
# linbo-dc's postinst stops and disables it. The hook file of the hand install is replaced.
new_root predecessor-by-hand
dpkg-deb -x "$predecessor" "$root"
printf 'API_KEY=school-secret\n' >"$root/etc/macct-worker.conf"
chmod 0600 "$root/etc/macct-worker.conf"
cp -p "$root/etc/macct-worker.conf" "$work/roots/$scenario.macct-worker.conf"
step systemctl enable macct-worker
step systemctl start macct-worker
reset_calls
step apt-get install -y --no-install-recommends "$(pkg "$(basename "$current")")"
check_output "stopping and disabling macct-worker.service"
check_installed_files
check_content /etc/macct-worker.conf "$work/roots/$scenario.macct-worker.conf"
check_disabled macct-worker.service
check_inactive macct-worker.service
check_enabled linbo-dc-worker.service
check_active linbo-dc-worker.service
check_calls \
    "systemctl stop macct-worker.service" \
    "systemctl disable --quiet macct-worker.service" \
    "systemctl --root=/ --system --preset-mode=enable-only preset linbo-dc-worker.service" \
    "systemctl --system daemon-reload" \
    "systemctl --system is-enabled -- linbo-dc-worker.service" \
    "systemctl --system --quiet is-active -- linbo-dc-worker.service" \
    "systemctl --quiet --system start linbo-dc-worker.service"

# An upgrade from the previous version: the administrator's configuration and enablement are
# kept, a running worker is restarted (a stopped one stays stopped: see the second upgrade).
new_root upgrade
step dpkg -i "$(pkg "$(basename "$previous")")"
echo "API_KEY=mine" >>"$root/etc/macct-worker.conf"
cp -p "$root/etc/macct-worker.conf" "$work/roots/$scenario.macct-worker.conf"
step systemctl enable linbo-dc-worker.service
step systemctl start linbo-dc-worker.service
reset_calls
step dpkg -i "$(pkg "$(basename "$current")")"
check_status linbo-dc installed
step dpkg-query -W -f='${Version}' linbo-dc
check_output "$version"
check_installed_files
check_content /etc/macct-worker.conf "$work/roots/$scenario.macct-worker.conf"
check_file /etc/macct-worker.conf 600
check_enabled linbo-dc-worker.service
check_active linbo-dc-worker.service
check_calls \
    "systemctl --system daemon-reload" \
    "systemctl try-restart linbo-dc-worker.service"
step systemctl stop linbo-dc-worker.service
reset_calls
step dpkg -i "$(pkg "$(basename "$previous")")"
check_inactive linbo-dc-worker.service
check_enabled linbo-dc-worker.service

# Remove keeps the configuration, the state and the logs; purge deletes them, saying so first.
new_root remove-purge
step apt-get install -y --no-install-recommends "$(pkg "$(basename "$current")")"
printf 'API_KEY=mine\n' >"$root/etc/macct-worker.conf"
printf 'LINBO_DOCKER_IP=10.0.0.13\n' >"$root/etc/linbo-docker-dhcp.conf"
step systemctl enable linbo-dc-worker.service
step systemctl start linbo-dc-worker.service
# What the running worker leaves (the unit's StateDirectory= and LogsDirectory=).
mkdir -p "$root/var/lib/linbo-dc/outbox" "$root/var/lib/linbo-dc/backup/default-school" "$root/var/log/macct"
echo '{}' >"$root/var/lib/linbo-dc/outbox/3f2a.jsonl"
echo '{}' >"$root/var/lib/linbo-dc/outbox/4b1c.jsonl"
echo 'log' >"$root/var/log/macct/3f2a.log"
reset_calls
step apt-get remove -y linbo-dc
check_status linbo-dc config-files
check_removed_files
check_file /etc/macct-worker.conf 600
check_file /etc/linbo-docker-dhcp.conf 644
check_file /var/lib/linbo-dc/outbox/3f2a.jsonl 644
check_file /var/log/macct/3f2a.log 644
check_inactive linbo-dc-worker.service
# deb-systemd-invoke stop, then postrm's daemon-reload; deb-systemd-helper masks the unit (and
# reloads).
check_calls \
    "systemctl stop linbo-dc-worker.service" \
    "systemctl --system daemon-reload" \
    "systemctl daemon-reload"
check_link /etc/systemd/system/linbo-dc-worker.service /dev/null
step dpkg --purge linbo-dc
check_status linbo-dc not-installed
check_output "purge: deleting /var/lib/linbo-dc"
check_output "the reports of 2 operation(s) in /var/lib/linbo-dc/outbox were never delivered"
check_output "purge: deleting /etc/macct-worker.conf"
check_output "purge: deleting the log /var/log/macct"
check_absent /var/lib/linbo-dc
check_absent /etc/macct-worker.conf
check_absent /etc/linbo-docker-dhcp.conf
check_absent /var/log/macct
check_absent /etc/systemd/system/linbo-dc-worker.service
check_disabled linbo-dc-worker.service
check_absent /var/lib/systemd/deb-systemd-helper-enabled/linbo-dc-worker.service.dsh-also
# deb-systemd-helper purge and unmask, each reloading.
check_calls "systemctl daemon-reload" "systemctl daemon-reload"

# A STATE_DIR elsewhere is the administrator's: purge says so and leaves it.
new_root purge-foreign-state
step apt-get install -y --no-install-recommends "$(pkg "$(basename "$current")")"
printf 'STATE_DIR="/srv/linbo-state"\n' >"$root/etc/macct-worker.conf"
mkdir -p "$root/srv/linbo-state/outbox"
step apt-get purge -y linbo-dc
check_output "STATE_DIR in /etc/macct-worker.conf is /srv/linbo-state: left in place"
check_file /srv/linbo-state/outbox 755

# --- result ---------------------------------------------------------------------------------------

if [ "$lint_ok" = true ]; then pass; else scenario=lintian fail "lintian reported errors (above)"; fi
# The roots stay for a look when something failed (each scenario's commands and output are in
# target/pkgtest/roots/<scenario>.log).
if [ "$failed" -eq 0 ]; then rm -rf "$work/roots"/*/; fi
echo "package tests: $((SECONDS - started)) s"
echo "package tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
