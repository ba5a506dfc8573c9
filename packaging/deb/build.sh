#!/usr/bin/env bash
# Builds the Debian package linbo-dc with cargo-deb (metadata: [package.metadata.deb] in
# bins/linbo-dc-worker/Cargo.toml): both binaries, the man pages and shell completions generated
# from their clap definitions (examples/worker-assets.rs and examples/hook-assets.rs, sharing packaging/gen_assets.rs), then the .deb.
#
# Usage: packaging/deb/build.sh [--profile release|dev] [--deb-version VERSION] [--output PATH] [--fast]
#   --profile dev       reuses the test build's binaries (the package tests; cargo-deb warns)
#   --deb-version       another version than the workspace's (the package tests' "previous" one)
#   --output            the .deb's path or directory; default: target/debian/
#   --fast              the fastest xz compression (the package tests: a larger package)
# Prints the path of the package.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"

# The cargo-deb the metadata is written for (symlink assets with `link_name` need 3.x).
CARGO_DEB_VERSION=3.8.0

profile=release
deb_args=()
while [ "$#" -gt 0 ]; do
    case "$1" in
    --profile) profile=$2; shift 2 ;;
    --deb-version | --output) deb_args+=("$1" "$2"); shift 2 ;;
    --fast) deb_args+=(--fast); shift ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$profile" in
release) profile_dir=release ;;
dev) profile_dir=debug ;;
*) echo "build.sh: --profile release or dev, not $profile" >&2; exit 2 ;;
esac

# The package's version is the workspace's with revision 1; the changelog's newest entry must say
# the same.
if [ "${#deb_args[@]}" -eq 0 ] || [[ " ${deb_args[*]} " != *" --deb-version "* ]]; then
    workspace_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    changelog_version=$(sed -n '1s/^linbo-dc (\([^)]*\)).*/\1/p' packaging/deb/changelog)
    if [ "$changelog_version" != "$workspace_version-1" ]; then
        echo "build.sh: packaging/deb/changelog's newest entry is $changelog_version, the workspace's version $workspace_version: add an entry for $workspace_version-1" >&2
        exit 1
    fi
fi

if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "build.sh: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked >&2
fi

cargo build --quiet --locked --profile "$profile" -p linbo-dc-worker -p linbo-dc-dhcp-hook --bins

# cargo-deb reads them from target/release/deb-assets (target/debug/... with --profile dev).
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
assets="$target_dir/$profile_dir/deb-assets"
rm -rf "$assets"
cargo run --quiet --locked -p linbo-dc-worker --example worker-assets -- "$assets"
cargo run --quiet --locked -p linbo-dc-dhcp-hook --example hook-assets -- "$assets"
# Debian wants man pages compressed; -n keeps the package reproducible (no name or time stamp).
gzip -9nf "$assets"/man/*.8

# --strip: the release profile keeps line tables (for backtraces in development); the package does
# not ship them.
cargo deb --quiet --no-build --locked --strip --profile "$profile" -p linbo-dc-worker "${deb_args[@]}"
