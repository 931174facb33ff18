#!/usr/bin/env bash
# Install what gridmap needs on a Debian machine, idempotently:
#   - PostgreSQL 15 + PostGIS 3 (Debian postgresql-15-postgis-3), unless GRIDMAP_DATABASE_URL
#     points at an external server;
#   - pgRouting (Debian postgresql-15-pgrouting) for walking distances over the road network
#     (gis/network), unless GRIDMAP_DATABASE_URL points at an external server;
#   - GDAL's command-line tools (Debian gdal-bin: ogr2ogr for benchmarks, ogrinfo as a real client);
#   - Chromium and CJK fonts (Debian chromium, fonts-noto-cjk, fonts-wqy-microhei) for printed maps
#     and the browser tests — Python
#     Playwright drives /usr/bin/chromium; it never downloads browsers (no `playwright install`);
#   - npm (Debian nodejs + npm, when there is no npm yet) to fetch the map assets;
#   - Patroni, etcd and HAProxy (Debian patroni, etcd-server, haproxy) for high availability:
#     `gridmap ha up` and its test start them on loopback ports (gis/ha);
#   - a C compiler and Python's headers (Debian gcc, python3-dev) for the lookup's compiled loops
#     (gis/query/*.c: _cells, _near, _wkb, _outer), built by the install;
#   - a virtualenv in .venv with the project and its dev tools (re-installed when pyproject or
#     the C source changes);
#   - the web assets (Leaflet, its plugins, MapLibre; Swagger UI and ReDoc for /docs and /redoc)
#     from the npm registry into vendor/, served at /vendor so no page needs a CDN
#     (`python -m gis.web.map_assets fetch`: only what is missing).
# Works as root or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "bootstrap: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

packages=()
if [ -z "${GRIDMAP_DATABASE_URL:-}" ] \
   && ! compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null; then
    packages+=(postgresql-15-postgis-3 postgresql-15 postgresql-client-15)
fi
if [ -z "${GRIDMAP_DATABASE_URL:-}" ] \
   && ! compgen -G "/usr/share/postgresql/*/extension/pgrouting.control" >/dev/null; then
    packages+=(postgresql-15-pgrouting)
fi
if ! command -v ogr2ogr >/dev/null; then
    packages+=(gdal-bin)
fi
if [ ! -x /usr/bin/chromium ]; then
    packages+=(chromium)
fi
if ! dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed'; then
    packages+=(fonts-noto-cjk)
fi
# printed maps (gis/web/print_page.py): a TrueType CJK face, whose text a PDF keeps searchable
# (Chromium's PDFs map some Noto CJK glyphs back to Kangxi radicals: 网 copies as ⽹)
if ! dpkg-query -W -f='${Status}' fonts-wqy-microhei 2>/dev/null | grep -q 'ok installed'; then
    packages+=(fonts-wqy-microhei)
fi
if ! command -v npm >/dev/null; then
    command -v node >/dev/null || packages+=(nodejs)
    packages+=(npm)
fi
for tool in patroni:patroni etcd:etcd-server haproxy:haproxy; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || packages+=("${tool#*:}")
done
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    packages+=(python3-venv)
fi
if ! command -v cc >/dev/null && ! command -v gcc >/dev/null; then
    packages+=(gcc libc6-dev)
fi
if ! "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
    packages+=(python3-dev)
fi
if [ ${#packages[@]} -gt 0 ]; then
    echo "bootstrap: installing ${packages[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.gridmap-installed"
want=$(cat pyproject.toml gis/query/*.c gis/query/*.h | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: installing gridmap into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi

# Web assets from the npm registry (build time only; the service and the tests never fetch).
"$VENV/bin/python" -m gis.web.map_assets fetch
