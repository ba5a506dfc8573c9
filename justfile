# linbo-dc task menu. It mirrors CI: `.ci/run` calls `just test` and nothing else.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := env_var("HOME") + "/.cargo/bin:" + env_var("PATH")

# List the recipes.
default:
    @just --list

# The worker on a local demo setup: private redis-server, fake LINBO API, sandbox DC in target/demo.
demo:
    scripts/install-deps.sh packages
    cargo build --quiet --locked -p linbo-dc-worker -p linbo-dc-dhcp-hook --bins
    cargo run --quiet --locked -p linbo-dc-worker --example demo

# The merge engine alone: one devices.csv batch with per-job outcomes and the diff.
demo-merge:
    cargo run --quiet --locked -p devices-csv --example merge -- fixtures/demo/devices.csv fixtures/demo/linbo-docker.devices.csv fixtures/demo/jobs.txt

# The package tests (lintian; install, upgrade, remove, purge in a Debian 12 root) need root.
# Everything CI checks: format, lints, tests, docs, dependency policy, fuzz targets, the package.
test: deps
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo test --workspace --locked
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
    # deny reads the metadata of every platform's dependencies; fetch them first, then check offline.
    cargo fetch --locked
    cargo deny --offline check bans licenses sources
    cargo build --locked --manifest-path fuzz/Cargo.toml
    packaging/deb/tests/run.sh

# The Debian package linbo-dc (release build, cargo-deb) in target/debian/, checked by lintian.
deb:
    scripts/install-deps.sh packages
    deb=$(packaging/deb/build.sh) && lintian --fail-on error "$deb" && echo "$deb"

# The package tests alone (as root): packaging/deb/tests/run.sh.
test-deb:
    scripts/install-deps.sh packages
    packaging/deb/tests/run.sh

# Benchmarks; each prints its figure and the ratio to a baseline measured in the same run.
bench:
    cargo bench --locked -p devices-csv --bench merge
    cargo bench --locked -p dhcpd-conf --bench parse
    cargo bench --locked -p linbo-dc-dhcp-hook --bench hook
    cargo bench --locked -p job-stream --bench throughput
    # The end-to-end benchmark installs the release hook from target/release as post-import hook.
    cargo build --release --locked -p linbo-dc-dhcp-hook
    cargo bench --locked -p linbo-dc-worker --bench end_to_end

# Install what a fresh Debian machine lacks (apt packages when root, cargo-deny).
deps:
    scripts/install-deps.sh
