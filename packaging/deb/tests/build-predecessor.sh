#!/usr/bin/env bash
# Builds a stand-in of the predecessor's package, linbo-docker-dc-worker 1.0.0, for the package
# tests: the same name, version, architecture, file list, modes, conffiles and maintainer scripts
# as the package the upstream repository builds (github.com/amolani/linbo-docker, dc-worker/ at
# commit 9dbd9c1, GPL-3.0). The files' contents are placeholders, except the systemd unit's
# [Install] section, which `systemctl enable` reads.
#
# Usage: build-predecessor.sh OUT_DIR  (writes OUT_DIR/linbo-docker-dc-worker_1.0.0_all.deb)
set -euo pipefail

out_dir=${1:?usage: build-predecessor.sh OUT_DIR}
package=linbo-docker-dc-worker
version=1.0.0 # dc-worker/VERSION:1
staging=$(mktemp -d)
chmod 0755 "$staging"
trap 'rm -rf "$staging"' EXIT

# The file list and modes of dc-worker/build-deb.sh:45-79.
file() { # MODE PATH CONTENT
    mkdir -p "$(dirname "$staging/$2")"
    printf '%s\n' "$3" >"$staging/$2"
    chmod "$1" "$staging/$2"
}
file 0755 usr/local/bin/macct-worker.py '#!/usr/bin/python3
# stand-in of linbo-docker-dc-worker 1.0.0 dc-worker/macct-worker.py'
file 0644 etc/systemd/system/macct-worker.service '[Unit]
Description=LINBO Docker Machine Account Worker (stand-in)

[Service]
Type=simple
EnvironmentFile=-/etc/macct-worker.conf
ExecStart=/usr/bin/python3 /usr/local/bin/macct-worker.py --config /etc/macct-worker.conf

[Install]
WantedBy=multi-user.target' # dc-worker/macct-worker.service:8,13,16,36-37
file 0644 etc/macct-worker.conf.example '# stand-in of dc-worker/macct-worker.conf.example'
file 0644 etc/linbo-docker-dhcp.conf.example '# stand-in of dc-worker/linbo-docker-dhcp.conf.example'
file 0755 var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp '#!/bin/bash
# stand-in of dc-worker/50-linbo-docker-dhcp'
file 0755 usr/local/bin/linbo-docker-configure '#!/bin/bash
# stand-in of dc-worker/install.sh'
file 0644 usr/share/doc/$package/README.md '# stand-in of dc-worker/README.md'

mkdir -p "$staging/DEBIAN"
# dc-worker/debian/control:1-13; Depends (python3, python3-redis, python3-requests) and Recommends
# (redis-tools) left out: nothing of the stand-in runs Python, and the test root has no package
# lists to install them from.
cat >"$staging/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: all
Section: admin
Priority: optional
Maintainer: LINBO Docker <noreply@linbo-docker.local>
Description: LINBO Docker DC Worker (stand-in for the linbo-dc package tests)
 Bridges LINBO Docker with linuxmuster.net AD DC.
CONTROL
# dc-worker/debian/conffiles:1-2
printf '%s\n' /etc/macct-worker.conf.example /etc/linbo-docker-dhcp.conf.example >"$staging/DEBIAN/conffiles"

# The maintainer scripts verbatim, apart from the echoed hints of postinst.
# dc-worker/debian/postinst:1-27
cat >"$staging/DEBIAN/postinst" <<'SCRIPT'
#!/bin/bash
set -e

case "$1" in
  configure)
    # Create required directories
    mkdir -p /var/log/macct
    mkdir -p /var/log/linuxmuster
    mkdir -p /var/lib/linuxmuster/hooks/device-import.post.d

    # Reload systemd to pick up new service file
    systemctl daemon-reload

    echo "linbo-docker-dc-worker installed."
    ;;
esac

exit 0
SCRIPT
# dc-worker/debian/prerm:1-11
cat >"$staging/DEBIAN/prerm" <<'SCRIPT'
#!/bin/bash
set -e

case "$1" in
  remove|upgrade)
    systemctl stop macct-worker 2>/dev/null || true
    systemctl disable macct-worker 2>/dev/null || true
    ;;
esac

exit 0
SCRIPT
# dc-worker/debian/postrm:1-15
cat >"$staging/DEBIAN/postrm" <<'SCRIPT'
#!/bin/bash
set -e

case "$1" in
  purge)
    rm -f /etc/macct-worker.conf /etc/linbo-docker-dhcp.conf
    rm -rf /var/log/macct
    systemctl daemon-reload
    ;;
  remove)
    systemctl daemon-reload
    ;;
esac

exit 0
SCRIPT
chmod 0755 "$staging/DEBIAN/postinst" "$staging/DEBIAN/prerm" "$staging/DEBIAN/postrm"

mkdir -p "$out_dir"
dpkg-deb --root-owner-group --build "$staging" "$out_dir/${package}_${version}_all.deb" >/dev/null
echo "$out_dir/${package}_${version}_all.deb"
