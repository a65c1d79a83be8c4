#!/usr/bin/env bash
# One idempotent setup for a fresh Debian 12 machine: WasmEdge from trixie (pinned low), the wasm32
# toolchain from bookworm, the project's venv, and the bundled plugins.
# Each step checks first and does nothing when its work is already done, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."

WASMEDGE_PKGS=(libwasmedge0 wasmedge libwasmedge-dev)
TOOLCHAIN_PKGS=(clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32 libc++-16-dev-wasm32 libc++abi-16-dev-wasm32 wabt)
# The console's browser test (tests/server/test_console.py); TEST_BROWSER=0 skips them (the service image).
BROWSER_PKGS=(chromium chromium-driver)
TEST_BROWSER=${TEST_BROWSER:-1}
# `make bench`'s HTTP client (bench/run.py falls back to a slower aiohttp one): only with BENCH=1.
BENCH_PKGS=(wrk)
BENCH=${BENCH:-0}
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
apt_update_once() {
    if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
}
apt_install() {  # apt_install PKG... (PKG/trixie takes that one package from trixie)
    apt_update_once
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# WasmEdge is only in trixie, and `apt-get -t trixie install` would take from trixie every package
# the install touches (on a Debian 12 machine: base-files, locales, libc6-dev, dpkg-dev, ...).
# Instead name exactly what must come from trixie: the WasmEdge packages, then, round by round,
# whatever a simulation (apt-get -s) says cannot stay as it is: a dependency that needs a newer
# version, a package the new one Breaks, a package whose own dependency pins the old version of
# one of them, a package apt would otherwise remove. Sets TRIXIE_SET and TRIXIE_PLAN (the simulation).
unmet_from_trixie() {  # apt's "unmet dependencies" lines on stdin -> the packages to take from trixie
    awk '
        / : / { split($0, parts, " : "); left = parts[1]; gsub(/ /, "", left); rest = parts[2] }
        !/ : / { rest = $0 }
        { sub(/^ +/, "", rest) }
        rest ~ /^(Pre-)?Depends: / || rest ~ /^Breaks: / {
            split(rest, word, " ")
            if (rest ~ /Depends: / && word[3] ~ /^\((<|<<|<=|=)$/) print left; else print word[2]
        }'
}
plan_trixie_install() {  # plan_trixie_install PKG...
    TRIXIE_SET=("$@")
    local round more
    for round in 1 2 3 4 5 6 7 8 9 10; do
        if TRIXIE_PLAN=$(apt-get -s install --no-install-recommends "${TRIXIE_SET[@]/%//trixie}" 2>&1); then
            more=$(printf '%s\n' "$TRIXIE_PLAN" | awk '$1 == "Remv" { sub(/:.*/, "", $2); print $2 }')
            [ -n "$more" ] || return 0
            # Only the roots of a removal have a trixie version to move to; their dependents stay.
            # shellcheck disable=SC2086
            more=$(apt-cache madison $more | awk '$5 ~ /^trixie\// { print $1 }')
        else
            more=$(printf '%s\n' "$TRIXIE_PLAN" | unmet_from_trixie)
        fi
        more=$(printf '%s\n' $more | sort -u | grep -vxF -f <(printf '%s\n' "${TRIXIE_SET[@]}") || true)
        [ -n "$more" ] || break
        # shellcheck disable=SC2206
        TRIXIE_SET+=($more)
    done
    return 1
}
show_trixie_plan() {  # what the install will change, from the simulation's Inst lines
    printf '%s\n' "$TRIXIE_PLAN" | awk '
        $1 == "Inst" && $3 ~ /^\[/ { old = $3; gsub(/[][]/, "", old); new = $4; sub(/^\(/, "", new)
                                     upgrades = upgrades "\n    " $2 " " old " -> " new }
        $1 == "Inst" && $3 !~ /^\[/ { added = added " " $2 }
        END {
            print "setup: upgrades of installed packages:" (upgrades == "" ? " none" : upgrades)
            print "setup: new packages:" (added == "" ? " none" : added)
        }'
    if printf '%s\n' "$TRIXIE_PLAN" | grep -q '^Inst base-files '; then
        say "note: trixie's libc6 requires trixie's base-files, so /etc/debian_version will name Debian 13"
    fi
}

need_wasmedge=$(missing_pkgs "${WASMEDGE_PKGS[@]}" | xargs)

if [ -n "$need_wasmedge" ]; then
    add_trixie_source || true
    step="work out what WasmEdge needs from trixie ($need_wasmedge)"
    HINT="apt-get could not find a set of trixie packages that installs WasmEdge (its simulation is above); check network access to the Debian mirror."
    say "$step"
    apt_update_once
    # shellcheck disable=SC2086
    if plan_trixie_install $need_wasmedge; then
        install_args=("${TRIXIE_SET[@]/%//trixie}")
        say "taking from Debian trixie only: ${TRIXIE_SET[*]}"
    else
        # Some installed package has no trixie version and would have to go (a gcc-12 -dev package
        # pinned to bookworm's libstdc++6, say): let apt take what it likes from trixie instead.
        # shellcheck disable=SC2086
        install_args=(-t trixie $need_wasmedge)
        TRIXIE_PLAN=$(apt-get -s install --no-install-recommends "${install_args[@]}" 2>&1) || true
        say "WasmEdge cannot come from trixie alone without removing packages: falling back to -t trixie"
    fi
    show_trixie_plan
    step="install WasmEdge from trixie (${install_args[*]})"
    HINT="Run 'apt-get install ${install_args[*]}' by hand to see the error."
    apt_install "${install_args[@]}"
fi

install_missing() {  # install_missing WHAT HINT PKG...: apt-get install those of PKG not installed yet
    local what=$1 hint=$2 need
    shift 2
    need=$(missing_pkgs "$@" | xargs)
    [ -n "$need" ] || return 0
    step="install $what ($need)"
    HINT=$hint
    say "$step"
    # shellcheck disable=SC2086
    apt_install $need
}

install_missing "the wasm32 toolchain" \
    "These are bookworm packages; run 'apt-get install ${TOOLCHAIN_PKGS[*]}' by hand to see the error." \
    "${TOOLCHAIN_PKGS[@]}"
if [ "$BENCH" != 0 ]; then
    install_missing "the benchmark's HTTP client" \
        "Run 'apt-get install ${BENCH_PKGS[*]}' by hand to see the error; without it make bench uses a slower client." \
        "${BENCH_PKGS[@]}"
fi
if [ "$TEST_BROWSER" != 0 ]; then
    install_missing "Chromium for the console's browser test" \
        "These are bookworm packages; run 'apt-get install ${BROWSER_PKGS[*]}' by hand to see the error, or set TEST_BROWSER=0 to skip them." \
        "${BROWSER_PKGS[@]}"
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
# _ffi.py and the C in wasmedge_py/_native/ (see _native_build.py), so any of these files being newer than the stamp, or the
# extension missing, means install again.
BUILD_INPUTS=(pyproject.toml setup.py wasmedge_py/_native_build.py wasmedge_py/_ffi.py wasmedge_py/_native/*)
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
