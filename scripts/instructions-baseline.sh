#!/usr/bin/env bash
# Instruction-count benchmarks against the committed baseline.
#
#   scripts/instructions-baseline.sh check   # run and compare; exit 3 on a
#                                            # regression above 5% (CI)
#   scripts/instructions-baseline.sh save    # record a new baseline after an
#                                            # intended change; commit it
#
# Needs valgrind and gungraun-runner at the version in Cargo.lock
# (`.ci/run` installs both). The committed baseline lives in
# benches/instructions-baseline/; a check runs in a scratch copy of it, so
# the committed files never change unless you save.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=benches/instructions-baseline
mode=${1:-check}

case "$mode" in
save)
    rm -rf "$baseline"
    cargo bench --bench instructions -- --home="$PWD/$baseline" --save-baseline=committed
    # Keep only the baseline files: the counts and their logs.
    find "$baseline" -type f ! -name '*.base@committed' -delete
    # The logs name this machine's paths; the counts do not depend on them.
    echo "saved; commit $baseline"
    ;;
check)
    if [ ! -d "$baseline" ]; then
        echo "no committed baseline in $baseline: run '$0 save' first" >&2
        exit 2
    fi
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cp -r "$baseline/." "$scratch/"
    cargo bench --bench instructions -- --home="$scratch" --baseline=committed \
        --callgrind-limits="ir=5%"
    ;;
*)
    echo "usage: $0 check|save" >&2
    exit 2
    ;;
esac
