#!/usr/bin/env bash
# Installs what `just test`, `just bench` and `just demo` need and a fresh Debian 12 machine with a Rust
# toolchain lacks. Idempotent: does nothing when everything is present. Never starts a system service
# (policy-rc.d keeps the samba, redis and dhcpd packages from starting theirs).
# `install-deps.sh packages` installs the Debian packages only (what `just demo` needs).
set -euo pipefail

export PATH="$HOME/.cargo/bin:$PATH"

# Debian packages the test suite, the demo and the benchmarks run: a private redis-server per test,
# ISC dhcpd -t, python3 for the fake DC commands, and a real Samba AD DC (samba, samba-ad-dc,
# samba-ad-provision; bind9-host's `host` asks its DNS server), systemd for `systemd-analyze verify`
# of the unit, openssl for the test CA of the Redis TLS tests, and for the Debian package
# (`just deb`, packaging/deb/tests/run.sh): dpkg-dev (cargo-deb's dependency detection), lintian,
# debootstrap (the package tests' Debian 12 root).
packages=(redis-server isc-dhcp-server python3 samba samba-ad-dc samba-ad-provision bind9-host systemd openssl dpkg-dev lintian debootstrap)
missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "install-deps: installing ${missing[*]} with apt-get" >&2
        apt-get update -qq
        # policy-rc.d keeps the packages' post-install scripts from starting system services.
        policy=/usr/sbin/policy-rc.d
        created_policy=false
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=true
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
        if [ "$created_policy" = true ]; then rm -f "$policy"; fi
    else
        echo "install-deps: missing ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

if [ "${1:-}" = packages ]; then
    exit 0
fi

# Cargo tools.
if ! cargo deny --version >/dev/null 2>&1; then
    echo "install-deps: installing cargo-deny" >&2
    cargo install cargo-deny --locked
fi
