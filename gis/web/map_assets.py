"""Offline web assets: Leaflet, its plugins, jQuery and MapLibre for the maps, Swagger UI and
ReDoc for the API documentation, all served by gridmap itself.

Folium's pages load Leaflet and plugins from CDNs, FastAPI's /docs and /redoc load Swagger UI
and ReDoc from CDNs; planners on intranets have no internet. So the files are fetched once, at
build time (``make bootstrap`` runs ``python -m gis.web.map_assets fetch``), from the npm registry
with ``npm pack``, checked against the pinned tarball integrity, and kept under
``Settings.vendor_dir`` as ``<name>@<version>/<path>``; the app serves that folder at
``/vendor`` (``api/vendor.py``). Nothing here touches the network at run time.

- ``PACKAGES``: the pinned packages, the files kept of each and the CDN URLs that name them;
- ``fetch(vendor_dir)``: download and unpack what is missing (idempotent);
- ``asset_url(name, path)``: ``/vendor/<name>@<version>/<path>`` of a kept file;
- ``local_url(cdn_url)``: ``/vendor/<name>@<version>/<path>`` for a known CDN URL, else None;
- ``offline_html(html, inline=…)``: a rendered page with every CDN ``<script src>`` and
  ``<link href>`` pointed at ``/vendor`` (``inline=False``) or replaced by the file's content,
  images and icons as ``data:`` URIs (``inline=True``: one HTML file that works alone). A
  reference it cannot map raises ``ExternalReferenceError``: nothing silently reaches a CDN.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

VENDOR_URL = "/vendor"
"""Where the app serves ``vendor_dir``."""


class MapAssetsError(RuntimeError):
    """The map assets could not be fetched, found or used."""


class ExternalReferenceError(MapAssetsError):
    """A page refers to scripts or styles on another host that have no local copy."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        super().__init__(
            "external script/style references with no local copy (add the package to "
            "gis.web.map_assets.PACKAGES or drop the reference): " + ", ".join(urls)
        )


@dataclass(frozen=True)
class Package:
    """One npm package: the files kept of it and the CDN URLs that name them."""

    name: str
    version: str
    integrity: str
    """npm's ``sha512-…`` of the tarball; ``fetch`` refuses any other bytes."""
    files: tuple[str, ...]
    """Paths inside the package to keep; ``*`` matches within one folder."""
    cdn: tuple[str, ...] = ()
    """URL prefixes, besides jsDelivr's and unpkg's npm ones, naming the package's root."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """CDN path → kept path, for files a CDN makes up (jsDelivr minifies ``x.js`` as
    ``x.min.js`` when the package has no such file)."""

    @property
    def dirname(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (
            f"https://cdn.jsdelivr.net/npm/{self.dirname}/",
            f"https://unpkg.com/{self.dirname}/",
            *self.cdn,
        )

    def keeps(self, path: str) -> bool:
        """True when ``path`` (inside the package) is one of the files kept."""
        return any(
            path == pattern
            or (
                "*" in pattern
                and posixpath.dirname(path) == posixpath.dirname(pattern)
                and fnmatch.fnmatchcase(posixpath.basename(path), posixpath.basename(pattern))
            )
            for pattern in self.files
        )


PACKAGES: tuple[Package, ...] = (
    Package(
        "leaflet",
        "1.9.3",
        "sha512-iB2cR9vAkDOu5l3HAay2obcUHZ7xwUBBjph8+PGtmW/2lYhbLizWtG7nTeYht36WfOslixQF9D/uSIzhZgGMfQ==",
        ("dist/leaflet.js", "dist/leaflet.css", "dist/images/*.png", "LICENSE"),
    ),
    Package(
        "leaflet.fullscreen",
        "3.0.0",
        "sha512-81wWSUXz1ZtdneR0v5eJDWXUSx+Zo5J50WXWeydG/UcILfIEAgz/iOjZSi3p00Z9MJ/FC/P5i3CgdYuEAos0yQ==",
        ("Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg", "LICENSE"),
        aliases={"Control.FullScreen.min.js": "Control.FullScreen.js"},
    ),
    Package(
        "leaflet-measure",
        "2.1.7",
        "sha512-IvoHIoVTIQSXUgaNnAMF17qXFB+dF5ICdwmY8BHyq/Hh33/xeGqQUUYlz0pRMzFN9NUcjsT6JBhCr1ia0CG5ug==",
        ("dist/leaflet-measure.min.js", "dist/leaflet-measure.css", "dist/images/*.png", "LICENSE"),
        cdn=("https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/",),
        aliases={"dist/leaflet-measure.min.css": "dist/leaflet-measure.css"},
    ),
    Package(
        "leaflet-search",
        "2.9.7",
        "sha512-v7CxEbXyQXqLFjSkTpvM5i1cvmrcPOos57UmTnR94qqvVZykXyz/0SKEs3cbkFHjyrmMQ3Yk2Q5W6PvyuiSuPg==",
        (
            "dist/leaflet-search.min.js",
            "dist/leaflet-search.min.css",
            "images/loader.gif",
            "images/search-icon.png",
            "images/search-icon-mobile.png",
            "license.txt",
        ),
    ),
    # Folium's Popup (a Marker's popup="…") and keep_in_front need jQuery's $; GeoJsonPopup,
    # GeoJsonTooltip and Tooltip do not. Kept so such pages work offline too.
    Package(
        "jquery",
        "3.7.1",
        "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
        ("dist/jquery.min.js", "LICENSE.txt"),
        cdn=("https://code.jquery.com/",),
        aliases={"jquery-3.7.1.min.js": "dist/jquery.min.js"},
    ),
    Package(
        "maplibre-gl",
        "5.24.1",
        "sha512-HyiYBwtsbk3L1n1EPLJHWqdoyMiF80n7tEYXFZyu2m1TjvaNx6KMLiFeDdmszt1/mq2zvsR1TJuX/NMu5BonXQ==",
        ("dist/maplibre-gl.js", "dist/maplibre-gl.css", "dist/LICENSE.txt"),
    ),
    # The workbench's boundary editor (api/static/workbench/edit.js).
    Package(
        "@geoman-io/leaflet-geoman-free",
        "2.20.2",
        "sha512-KQpSe0VKyuVCudq/08rMjJW1vvIwFldTwBny2wZ7ABcyyUAP7/eoFo967hCu9yRqAAHb4QOxC6gY5dGqttY68g==",
        ("dist/leaflet-geoman.js", "dist/leaflet-geoman.css", "LICENSE"),
    ),
    # The API documentation pages, /docs and /redoc (api/routers/docs.py).
    Package(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE", "NOTICE"),
    ),
    Package(
        "redoc",
        "2.5.4",
        "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
        ("bundles/redoc.standalone.js", "LICENSE"),
    ),
)

_MARKER = ".npm-integrity"
"""Written last into each unpacked package: its presence means the package is complete."""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _unpack(package: Package, tarball: Path, target: Path) -> None:
    """Copy the kept files of an npm tarball (all under ``package/``) into ``target``."""
    found: set[str] = set()
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            name = posixpath.normpath(member.name)
            if not member.isfile() or not name.startswith("package/"):
                continue
            path = name.removeprefix("package/")
            if path.startswith(("/", "..")) or not package.keeps(path):
                continue
            source = tar.extractfile(member)
            assert source is not None
            out = target / path
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(source.read())
            found.add(path)
    missing = [p for p in package.files if not any(fnmatch.fnmatchcase(f, p) for f in found)]
    if missing:
        raise MapAssetsError(f"{package.dirname}: the npm tarball has no {', '.join(missing)}")


def fetch(
    vendor_dir: Path, packages: Iterable[Package] = PACKAGES, *, quiet: bool = False
) -> list[str]:
    """Fetch every package not yet in ``vendor_dir`` with ``npm pack``; the names fetched.

    Idempotent: a package already unpacked (with the pinned integrity) is skipped without
    running npm; other versions of a pinned package are removed.
    """
    vendor_dir = Path(vendor_dir)
    fetched = []
    for package in packages:
        target = vendor_dir / package.dirname
        marker = target / _MARKER
        if marker.is_file() and marker.read_text().strip() == package.integrity:
            continue
        npm = shutil.which("npm")
        if npm is None:
            raise MapAssetsError(
                f"npm is needed to fetch {package.dirname} into {vendor_dir} and is not on "
                "PATH: install Node.js and npm (Debian: apt-get install npm), or run make bootstrap"
            )
        if not quiet:
            print(f"map assets: fetching {package.dirname} from the npm registry", flush=True)
        vendor_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=vendor_dir, prefix=".fetch-") as tmp:
            command = [npm, "pack", package.dirname, "--json", "--ignore-scripts"]
            packed = subprocess.run(
                [*command, "--pack-destination", tmp],
                cwd=tmp,
                capture_output=True,
                text=True,
            )
            if packed.returncode != 0:
                raise MapAssetsError(
                    f"npm pack {package.dirname} failed ({packed.returncode}): "
                    + (packed.stderr.strip() or packed.stdout.strip())[-2000:]
                )
            tarball = Path(tmp) / json.loads(packed.stdout)[0]["filename"]
            got = _integrity(tarball)
            if got != package.integrity:
                raise MapAssetsError(
                    f"{package.dirname}: tarball integrity {got} is not the pinned "
                    f"{package.integrity}"
                )
            staging = Path(tmp) / "unpacked"
            _unpack(package, tarball, staging)
            (staging / _MARKER).write_text(package.integrity + "\n")
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)  # a scoped package: @scope/name
            staging.rename(target)
        fetched.append(package.dirname)
        for old in vendor_dir.glob(f"{package.name}@*"):
            if old != vendor_dir / package.dirname and old.is_dir():
                shutil.rmtree(old)
    return fetched


def _resolve(cdn_url: str) -> tuple[Package, str] | None:
    url = cdn_url.split("#", 1)[0].split("?", 1)[0]
    for package in PACKAGES:
        for prefix in package.prefixes:
            if url.startswith(prefix):
                path = url.removeprefix(prefix)
                path = package.aliases.get(path, path)
                if package.keeps(path):
                    return package, path
    return None


def asset_url(name: str, path: str) -> str:
    """``/vendor/<name>@<version>/<path>`` of a kept file of a pinned package."""
    package = next((p for p in PACKAGES if p.name == name), None)
    if package is None or not package.keeps(path):
        raise MapAssetsError(f"{name}/{path} is not a kept file of gis.web.map_assets.PACKAGES")
    return f"{VENDOR_URL}/{package.dirname}/{path}"


def local_url(cdn_url: str) -> str | None:
    """``/vendor/<name>@<version>/<path>`` of a CDN URL of a kept file, or None."""
    found = _resolve(cdn_url)
    return None if found is None else f"{VENDOR_URL}/{found[0].dirname}/{found[1]}"


# ---- rewriting pages -----------------------------------------------------------------------

_ATTR = r"""\b{}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"""
_SCRIPT = re.compile(r"<script\b([^>]*)>\s*</script\s*>", re.I)
_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
_LINK = re.compile(r"<link\b([^>]*?)/?>", re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.I)
_SOURCE_MAP = re.compile(
    r"^\s*(?://[#@]\s*sourceMappingURL=.*|/\*[#@]\s*sourceMappingURL=.*\*/)$", re.M
)
_MIME = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".cur": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}


def _attr(attrs: str, name: str) -> str | None:
    m = re.search(_ATTR.format(name), attrs, re.I)
    return None if m is None else next(g for g in m.groups() if g is not None)


def _without(attrs: str, *names: str) -> str:
    for name in names:
        attrs = re.sub(r"\s*" + _ATTR.format(name), "", attrs, flags=re.I)
    return re.sub(r"\s*/\s*$", "", attrs)


def external_references(html: str) -> list[str]:
    """Every URL on another host a page's ``<script src>``, ``<link href>`` or ``<style>``
    (``url(…)``, ``@import``) would load."""
    urls = []
    for m in _SCRIPT_TAG.finditer(html):
        urls.append(_attr(m.group(1), "src"))
    for m in _LINK.finditer(html):
        urls.append(_attr(m.group(1), "href"))
    for m in _STYLE.finditer(html):
        refs = [*_CSS_URL.finditer(m.group(1)), *_CSS_IMPORT.finditer(m.group(1))]
        for ref in sorted(refs, key=lambda r: r.start()):
            urls.append(next((g for g in ref.groups() if g is not None), ""))
    return [u.strip() for u in urls if u and _EXTERNAL.match(u)]


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise MapAssetsError(f"no MIME type known for {path.name} (add it to _MIME)")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _file(vendor_dir: Path, package: Package, path: str) -> Path:
    file = vendor_dir / package.dirname / path
    if not file.is_file():
        raise MapAssetsError(
            f"{file} is missing: run `python -m gis.web.map_assets fetch` (or make bootstrap)"
        )
    return file


def _inline_css(vendor_dir: Path, package: Package, path: str) -> str:
    """A stylesheet with its relative ``url(…)`` references (images, icons) as data URIs."""
    css = _file(vendor_dir, package, path).read_text(encoding="utf-8")

    def replace(m: re.Match[str]) -> str:
        ref = next((g for g in m.groups() if g is not None), "")
        if not ref or ref.startswith(("#", "data:")):
            return m.group(0)
        if _EXTERNAL.match(ref) or ":" in ref.split("/", 1)[0]:
            raise ExternalReferenceError([f"{ref} (in {package.dirname}/{path})"])
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref.split("?")[0]))
        if target.startswith("../") or not package.keeps(target):
            raise MapAssetsError(f"{package.dirname}/{path} refers to {ref}, which is not kept")
        return f'url("{_data_uri(_file(vendor_dir, package, target))}")'

    css = _CSS_URL.sub(replace, _SOURCE_MAP.sub("", css))
    if _CSS_IMPORT.search(css):
        raise MapAssetsError(f"{package.dirname}/{path} has an @import; cannot inline it")
    return re.sub(r"</(style)", r"<\\/\1", css, flags=re.I)


def _leaflet_icons(vendor_dir: Path, package: Package) -> str:
    """Leaflet finds its marker images next to leaflet.css; inline, it has no such place."""
    icons = {
        name: _data_uri(_file(vendor_dir, package, f"dist/images/{file}"))
        for name, file in (
            ("iconUrl", "marker-icon.png"),
            ("iconRetinaUrl", "marker-icon-2x.png"),
            ("shadowUrl", "marker-shadow.png"),
        )
    }
    return (
        "L.Icon.Default.imagePath = '';\n"
        f"Object.assign(L.Icon.Default.prototype.options, {json.dumps(icons)});"
    )


_AFTER_INLINE_SCRIPT = {("leaflet", "dist/leaflet.js"): _leaflet_icons}


def offline_html(html: str, *, inline: bool, vendor_dir: Path | None = None) -> str:
    """A rendered page with every known CDN script and stylesheet served by gridmap.

    ``inline=False``: the ``src``/``href`` become ``/vendor/…`` URLs (the app serves them).
    ``inline=True``: scripts and stylesheets are copied into the page, their images as data
    URIs, so the one file works alone. ``integrity`` and ``crossorigin`` attributes are
    dropped (jsDelivr's made-up ``.min`` files are not byte-equal to the kept ones). Raises
    ``ExternalReferenceError`` naming every reference to another host it cannot map, and
    ``MapAssetsError`` when a file has not been fetched into ``vendor_dir`` (default: the
    ``vendor_dir`` setting).
    """
    if vendor_dir is None:
        from gis.settings import get_settings

        vendor_dir = get_settings().vendor_dir
    vendor_dir = Path(vendor_dir)

    def script(m: re.Match[str]) -> str:
        src = _attr(m.group(1), "src")
        found = _resolve(src) if src else None
        if found is None:
            return m.group(0)
        package, path = found
        file = _file(vendor_dir, package, path)
        attrs = _without(m.group(1), "integrity", "crossorigin")
        if not inline:
            url = f"{VENDOR_URL}/{package.dirname}/{path}"
            return f'<script{_without(attrs, "src")} src="{url}"></script>'
        js = _SOURCE_MAP.sub("", file.read_text(encoding="utf-8"))
        js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.I)
        out = f"<script{_without(attrs, 'src', 'defer', 'async')}>\n{js}\n</script>"
        extra = _AFTER_INLINE_SCRIPT.get((package.name, path))
        return out + (f"\n<script>\n{extra(vendor_dir, package)}\n</script>" if extra else "")

    def link(m: re.Match[str]) -> str:
        href = _attr(m.group(1), "href")
        found = _resolve(href) if href else None
        if found is None:
            return m.group(0)
        package, path = found
        file = _file(vendor_dir, package, path)
        attrs = _without(m.group(1), "integrity", "crossorigin")
        if not inline:
            url = f"{VENDOR_URL}/{package.dirname}/{path}"
            return f'<link{_without(attrs, "href")} href="{url}"/>'
        if (_attr(attrs, "rel") or "").lower() != "stylesheet":
            return f'<link{_without(attrs, "href")} href="{_data_uri(file)}"/>'
        media = _attr(attrs, "media")
        media_attr = f' media="{media}"' if media else ""
        return f"<style{media_attr}>\n{_inline_css(vendor_dir, package, path)}\n</style>"

    out = _LINK.sub(link, _SCRIPT.sub(script, html))
    left = list(dict.fromkeys(external_references(out)))
    if left:
        raise ExternalReferenceError(left)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gis.web.map_assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="fetch the pinned packages missing from the vendor folder")
    f.add_argument("--vendor-dir", type=Path, help="default: the vendor_dir setting")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        vendor_dir = args.vendor_dir
        if vendor_dir is None:
            from gis.settings import get_settings

            vendor_dir = get_settings().vendor_dir
        try:
            fetched = fetch(vendor_dir)
        except MapAssetsError as error:
            print(f"map assets: {error}", file=sys.stderr)
            return 1
        if not fetched:
            print(f"map assets: up to date in {vendor_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
