#!/usr/bin/env bash
# One idempotent setup for a fresh Debian 12 machine: WasmEdge from trixie (pinned low), the wasm32
# toolchain from bookworm, the project's venv, and the bundled plugins.
# Each step checks first and does nothing when its work is already done, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

WASMEDGE_PKGS=(libwasmedge0 wasmedge libwasmedge-dev)
TOOLCHAIN_PKGS=(clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32 libc++-16-dev-wasm32 libc++abi-16-dev-wasm32 wabt)
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TRIXIE_SOURCES=/etc/apt/sources.list.d/wasmedge-py-trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/wasmedge-py-trixie

packages_only=0
[ "${1:-}" = "--packages-only" ] && packages_only=1

step=""
trap 'rc=$?; [ $rc -ne 0 ] && echo "setup: step \"$step\" failed (exit $rc). $HINT" >&2' EXIT
HINT=""

say() { echo "setup: $*"; }

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
    done
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The mirror of the machine's own Debian sources, so no host name is written into the repo.
debian_mirror() {
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri=$(awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/debian.sources | grep -v -- '-security' | head -n1)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $2 !~ /-security/ {print $2}' /etc/apt/sources.list | head -n1)
    fi
    [ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt/sources.list{,.d/debian.sources}" >&2; return 1; }
    echo "$uri"
}

step="add the trixie apt source (pinned at priority 100)"
HINT="Check that /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list) names a Debian mirror."
add_trixie_source() {
    local mirror keyring
    mirror=$(debian_mirror)
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    local want_sources="Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring"
    local want_pin="Package: *
Pin: release n=trixie
Pin-Priority: 100"
    local changed=1
    if [ "$(cat "$TRIXIE_SOURCES" 2>/dev/null)" != "$want_sources" ]; then
        printf '%s\n' "$want_sources" | as_root tee "$TRIXIE_SOURCES" >/dev/null; changed=0
    fi
    if [ "$(cat "$TRIXIE_PIN" 2>/dev/null)" != "$want_pin" ]; then
        printf '%s\n' "$want_pin" | as_root tee "$TRIXIE_PIN" >/dev/null; changed=0
    fi
    return $changed
}

apt_updated=0
apt_install() {  # apt_install [-t SUITE] PKG...
    local target=()
    if [ "$1" = "-t" ]; then target=(-t "$2"); shift 2; fi
    if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" "$@"
}

need_wasmedge=$(missing_pkgs "${WASMEDGE_PKGS[@]}" | xargs)
need_toolchain=$(missing_pkgs "${TOOLCHAIN_PKGS[@]}" | xargs)

if [ -n "$need_wasmedge" ]; then
    add_trixie_source || true
    step="install WasmEdge from trixie ($need_wasmedge)"
    HINT="WasmEdge comes from Debian trixie; check network access to the Debian mirror and run 'apt-get -t trixie install ${WASMEDGE_PKGS[*]}' by hand to see the error."
    say "$step"
    # shellcheck disable=SC2086
    apt_install -t trixie $need_wasmedge
fi

if [ -n "$need_toolchain" ]; then
    step="install the wasm32 toolchain ($need_toolchain)"
    HINT="These are bookworm packages; run 'apt-get install ${TOOLCHAIN_PKGS[*]}' by hand to see the error."
    say "$step"
    # shellcheck disable=SC2086
    apt_install $need_toolchain
fi

[ $packages_only -eq 1 ] && { step=""; exit 0; }

step="create the virtual environment and install the package"
HINT="Needs $PYTHON with venv and pip reaching PyPI; remove $VENV and retry."
stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
    say "$step"
    "$PYTHON" -m venv "$VENV"
fi
# Installing compiles the cffi extension wasmedge_py/_wasmedge_cffi*.so from the declarations in
# _ffi.py (see _native_build.py), so any of these files being newer than the stamp, or the
# extension missing, means install again.
BUILD_INPUTS=(pyproject.toml setup.py wasmedge_py/_native_build.py wasmedge_py/_ffi.py)
needs_install() {
    local f
    [ -f "$stamp" ] || return 0
    compgen -G 'wasmedge_py/_wasmedge_cffi*.so' >/dev/null || return 0
    for f in "${BUILD_INPUTS[@]}"; do [ "$f" -nt "$stamp" ] && return 0; done
    return 1
}
if needs_install; then
    step="find a C compiler and Python's headers for the extension"
    HINT="Install gcc and the headers of $VENV's Python (python3-dev for Debian's python3)."
    python_h="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h"
    if ! command -v cc >/dev/null 2>&1 || [ ! -f "$python_h" ]; then
        say "$step"
        apt_install gcc libc6-dev python3-dev
        [ -f "$python_h" ] || { echo "setup: $python_h is missing and python3-dev does not provide it" >&2; exit 1; }
    fi
    step="install wasmedge-py into $VENV (compiles the cffi extension)"
    HINT="Needs pip reaching PyPI, a C compiler and libwasmedge-dev; run '$VENV/bin/pip install -e .[test]' to see the error."
    say "installing wasmedge-py into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    touch "$stamp"
fi

step="build the plugins"
HINT="See BUILD.md; 'make plugins' shows the failing compiler command."
make -s plugins

step=""
say "ready"
