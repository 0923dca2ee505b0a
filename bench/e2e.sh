#!/usr/bin/env bash
# End-to-end benchmarks of `campaign run`: builds the release binary, then runs bench/e2e.py
# (Python standard library only) with the arguments given. See bench/README.md.
#
#   bash bench/e2e.sh                    # throughput: N=20000, 5 reps (send vs smtp-source vs dry run)
#   bash bench/e2e.sh -n 5000 -r 3       # smaller / fewer
#   bash bench/e2e.sh --rss-scaling      # peak RSS, 10,000 vs 1,000,000 recipients
#   bash bench/e2e.sh --rate-accuracy    # rate = "500/s" for 30 s, measured at the sink
#   bash bench/e2e.sh --all              # all three
#
# Needs Postfix's smtp-sink and smtp-source (bash tests/support/setup.sh installs them) and GNU
# time (installed here with apt-get if missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x /usr/sbin/smtp-sink ] || [ ! -x /usr/sbin/smtp-source ]; then
    bash tests/support/setup.sh
fi
if [ ! -x /usr/bin/time ]; then
    # GNU time measures each run's peak RSS ("Maximum resident set size").
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get -q update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get -q install -y time
fi
cargo build --release --quiet --bin campaign
exec "${PYTHON:-python3}" bench/e2e.py --binary target/release/campaign "$@"
