#!/usr/bin/env bash
# Installs what the integration tests need, on Debian (bookworm):
#   * Postfix's smtp-sink / smtp-source (/usr/sbin), from the `postfix` package;
#   * dnsmasq (/usr/sbin/dnsmasq), from `dnsmasq-base`: the DNS server on
#     127.0.0.1 that tests/check.rs runs for `campaign check --dns`;
#   * the Python packages in tests/support/requirements.txt (aiosmtpd, trustme),
#     used by tests/support/capture_smtp.py; dkimpy and PyNaCl, used by
#     tests/support/dkim_verify.py; kubernetes-validate (and its PyYAML), with
#     which tests/shards.rs checks deploy/ against the Kubernetes schemas;
#   * the `openssl` CLI, from the `openssl` package: tests/dkim.rs makes its DKIM
#     keys with it;
#   * strace (/usr/bin/strace): tests/exactly_once.rs traces the binary to check
#     that result rows are synced to disk (the test is skipped without it);
#   * Chromium (/usr/bin/chromium), from Debian's `chromium` package:
#     tests/workflow_report.rs opens report.html in it headless, screenshots it
#     and reads the DOM it built.
#
# Safe to rerun: anything already present is skipped. Needs root (or sudo) for
# apt-get when Postfix, dnsmasq, openssl, strace or Chromium is missing.
#
# Environment:
#   CAMPAIGN_TEST_PYTHON   python interpreter to install into / run the
#                          capture server with (default: python3). The Rust
#                          harness reads the same variable.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${CAMPAIGN_TEST_PYTHON:-python3}"

log() { printf 'setup.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*"
        exit 1
    fi
}

# ---------------------------------------------------------------- postfix ---
if [ -x /usr/sbin/smtp-sink ] && [ -x /usr/sbin/smtp-source ]; then
    log "postfix tools already installed (/usr/sbin/smtp-sink, /usr/sbin/smtp-source)"
else
    log "installing postfix (for smtp-sink / smtp-source)"
    # "No configuration": the package is installed but no main.cf is written,
    # so the postfix daemon is not configured and does not start or bind :25.
    # The tests only use the standalone smtp-sink/smtp-source programs.
    as_root sh -c 'printf "%s\n" \
        "postfix postfix/main_mailer_type select No configuration" \
        "postfix postfix/mailname string localhost" \
        | debconf-set-selections'
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y postfix
    # Belt and braces: if a postfix master did get started anyway, stop it.
    # (Harmless either way: the tests bind their own ports on 127.0.0.1.)
    if command -v postfix >/dev/null 2>&1 && as_root postfix status >/dev/null 2>&1; then
        log "stopping the postfix daemon started by the package install"
        as_root postfix stop >/dev/null 2>&1 || true
    fi
    if [ ! -x /usr/sbin/smtp-sink ] || [ ! -x /usr/sbin/smtp-source ]; then
        log "postfix installed but /usr/sbin/smtp-sink or smtp-source is missing"
        exit 1
    fi
fi

# ---------------------------------------------------------------- dnsmasq ---
# dnsmasq-base is the bare binary: no service, no /etc/dnsmasq.conf, nothing
# starts or binds a port on install. The tests run it themselves on 127.0.0.1.
if [ -x /usr/sbin/dnsmasq ]; then
    log "dnsmasq already installed (/usr/sbin/dnsmasq)"
else
    log "installing dnsmasq-base (for the campaign check --dns tests)"
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y dnsmasq-base
    if [ ! -x /usr/sbin/dnsmasq ]; then
        log "dnsmasq-base installed but /usr/sbin/dnsmasq is missing"
        exit 1
    fi
fi

# ---------------------------------------------------------------- openssl ---
if command -v openssl >/dev/null 2>&1; then
    log "openssl already installed ($(openssl version))"
else
    log "installing openssl (the CLI makes the DKIM test keys)"
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y openssl
fi

# ----------------------------------------------------------------- strace ---
if command -v strace >/dev/null 2>&1; then
    log "strace already installed ($(strace -V 2>&1 | head -n 1))"
else
    log "installing strace (the durability test traces fsync/fdatasync)"
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y strace
fi

# --------------------------------------------------------------- chromium ---
if [ -x /usr/bin/chromium ]; then
    log "chromium already installed ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
else
    log "installing chromium (the report test renders report.html headless)"
    as_root apt-get -q update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends chromium
    if [ ! -x /usr/bin/chromium ]; then
        log "chromium installed but /usr/bin/chromium is missing"
        exit 1
    fi
fi

# ----------------------------------------------------------------- python ---
# Exit 0 when every `name==version` pin in requirements.txt is installed.
python_reqs_ok() {
    "$python" - "$here/requirements.txt" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError

ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        have = None
    if want and have != want.strip():
        print(f"  {name.strip()}: want {want.strip()}, have {have}", file=sys.stderr)
        ok = False
sys.exit(0 if ok else 1)
PY
}

if python_reqs_ok; then
    log "python packages already installed ($("$python" --version 2>&1))"
else
    log "installing python packages into $("$python" -c 'import sys; print(sys.prefix)')"
    pip_args=(-m pip install --disable-pip-version-check --no-input -r "$here/requirements.txt")
    # Debian's own python3 is "externally managed" (PEP 668); pyenv/venv ones are not.
    if "$python" -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)' \
        && [ -z "${VIRTUAL_ENV:-}" ]; then
        pip_args+=(--break-system-packages)
    fi
    "$python" "${pip_args[@]}"
    python_reqs_ok
fi

log "done"
