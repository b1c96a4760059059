"""Download the Free Spoken Digit Dataset (FSDD) from its official GitHub release, verified.

The recordings come from the pinned tag `FSDD_TAG` of https://github.com/Jakobovski/free-spoken-digit-dataset
(GitHub's source archive of the tag). Every recording is checked against the committed manifest
`fsdd_manifest.txt` (SHA-256 of each `recordings/*.wav`, in `sha256sum` format) before anything is
kept. The download and the extraction happen in a temporary folder beside the cache folder, which
is renamed into place only once every file of the manifest is present and matches: an interrupted,
truncated or altered download leaves nothing behind and is reported in one line.

    $NNET2_FSDD_URL    the archive to fetch (default FSDD_URL; http(s):// or file://, .tar.gz or .zip)
    $NNET2_FSDD_CACHE  where the verified copy goes (default $XDG_CACHE_HOME/nnet2/fsdd-<tag>,
                       i.e. ~/.cache/nnet2/fsdd-<tag>); it then holds recordings/ like any FSDD copy
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib

from tqdm import tqdm

from nnet2.utils.errors import UserError
from nnet2.utils.log import get_logger

log = get_logger("fsdd")

FSDD_TAG = "v1.0.10"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/{FSDD_TAG}.tar.gz"
URL_ENV = "NNET2_FSDD_URL"
CACHE_ENV = "NNET2_FSDD_CACHE"
MANIFEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fsdd_manifest.txt")
STAMP = ".nnet2-fsdd-verified"  # written last, holds the manifest's digest
_KEY = re.compile(r"^recordings/\d_[A-Za-z]+_\d+\.wav$")
_CHUNK = 1 << 20


def read_manifest(path: str = MANIFEST) -> dict[str, str]:
    """{"recordings/<name>.wav": sha256 hex} from a `sha256sum`-format file (`#` lines are comments)."""
    out: dict[str, str] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]) or not _KEY.match(parts[1]):
                raise UserError(f"{path}:{n}: expected '<sha256>  recordings/<digit>_<speaker>_<take>.wav'")
            out[parts[1]] = parts[0]
    if not out:
        raise UserError(f"{path}: empty FSDD manifest")
    return out


def manifest_digest(manifest: dict[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(manifest):
        h.update(f"{manifest[k]}  {k}\n".encode())
    return h.hexdigest()


def default_url() -> str:
    return os.environ.get(URL_ENV) or FSDD_URL


def default_cache_dir() -> str:
    env = os.environ.get(CACHE_ENV)
    if env:
        return os.path.abspath(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nnet2", f"fsdd-{FSDD_TAG}")


def cached_fsdd(cache_dir: str | None = None, manifest: dict[str, str] | None = None) -> str | None:
    """The cache folder if it holds a copy verified against this manifest, else None."""
    cache_dir = cache_dir or default_cache_dir()
    manifest = manifest if manifest is not None else read_manifest()
    try:
        with open(os.path.join(cache_dir, STAMP)) as f:
            ok = f.read().strip() == manifest_digest(manifest)
    except OSError:
        return None
    return cache_dir if ok else None


def fetch_fsdd(cache_dir: str | None = None, url: str | None = None,
               manifest: dict[str, str] | None = None) -> str:
    """Return a verified FSDD folder (holding recordings/): the cache if already complete, else
    download `url`, check every recording against the manifest and move it into `cache_dir`."""
    cache_dir = os.path.abspath(cache_dir or default_cache_dir())
    url = url or default_url()
    manifest = manifest if manifest is not None else read_manifest()
    if cached_fsdd(cache_dir, manifest):
        return cache_dir
    if os.path.lexists(cache_dir):
        raise UserError(f"{cache_dir} exists but is not a verified FSDD {FSDD_TAG} copy; "
                        f"remove it, or set {CACHE_ENV} to another folder")
    parent = os.path.dirname(cache_dir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".fsdd-download-", dir=parent)
    try:
        log.info(f"downloading FSDD {FSDD_TAG} from {url} into {cache_dir}")
        archive = os.path.join(work, "archive")
        _download(url, archive)
        out = os.path.join(work, "fsdd")
        n, skipped = _extract_verified(archive, url, out, manifest)
        with open(os.path.join(out, "SOURCE"), "w") as f:
            f.write(f"FSDD {FSDD_TAG} from {url}\n{n} recordings checked against nnet2's manifest\n")
        with open(os.path.join(out, STAMP), "w") as f:
            f.write(manifest_digest(manifest) + "\n")
        try:
            os.rename(out, cache_dir)
        except OSError:
            if not cached_fsdd(cache_dir, manifest):  # not a concurrent download that finished first
                raise UserError(f"cannot move the verified FSDD copy to {cache_dir}") from None
        log.info(f"FSDD {FSDD_TAG}: {n} recordings verified (SHA-256) in {cache_dir}"
                 + (f"; {skipped} archive files not in the manifest left out" if skipped else ""))
        return cache_dir
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _progress(total: int | None):
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="FSDD download",
                disable=not sys.stderr.isatty(), leave=False)


def _download(url: str, dest: str) -> None:
    try:
        resp = urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as e:
        raise UserError(f"cannot download FSDD from {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise UserError(f"cannot download FSDD from {url}: {e.reason}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"cannot download FSDD from {url}: {e}") from None
    got = 0
    with resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        try:
            with open(dest, "wb") as f, _progress(total) as bar:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        except OSError as e:  # connection reset, timeout, incomplete read
            raise UserError(f"FSDD download from {url} failed after {got} bytes: {e}") from None
    if total is not None and got != total:
        raise UserError(f"FSDD download from {url} is incomplete: {got} of {total} bytes")


def _members(archive: str, url: str):
    """(path inside the archive, is a regular file, open() -> file object) for every member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                yield info.filename, not info.is_dir(), (lambda i=info: z.open(i))
        return
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise UserError(f"FSDD download from {url} is not a tar or zip archive ({e})") from None
    with tf:
        for m in tf:
            yield m.name, m.isfile(), (lambda m=m: tf.extractfile(m))


def _extract_verified(archive: str, url: str, out: str, manifest: dict[str, str]) -> tuple[int, int]:
    """Write the manifest's recordings found in `archive` to out/recordings/, each checked against
    its SHA-256. Files are written only under names taken from the manifest (no path from the
    archive is ever used as a destination). Returns (recordings written, archive .wavs skipped)."""
    rec_dir = os.path.join(out, "recordings")
    os.makedirs(rec_dir)
    seen: set[str] = set()
    skipped = 0
    try:
        for name, is_file, opener in _members(archive, url):
            parts = name.strip("/").split("/")
            if len(parts) < 2 or len(parts) > 3 or parts[-2] != "recordings" or not parts[-1].endswith(".wav"):
                continue  # the release's scripts, README, metadata: not needed
            key = "recordings/" + parts[-1]
            if key not in manifest:
                skipped += 1
                continue
            if not is_file:
                raise UserError(f"FSDD download from {url}: {name} is not a regular file")
            if key in seen:
                raise UserError(f"FSDD download from {url}: {key} appears twice")
            h = hashlib.sha256()
            with opener() as src, open(os.path.join(rec_dir, parts[-1]), "wb") as dst:
                while True:
                    chunk = src.read(_CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    dst.write(chunk)
            if h.hexdigest() != manifest[key]:
                raise UserError(f"FSDD download from {url}: {key} fails its SHA-256 check (expected "
                                f"{manifest[key][:16]}..., got {h.hexdigest()[:16]}...): corrupt, or not FSDD {FSDD_TAG}")
            seen.add(key)
    except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise UserError(f"FSDD download from {url} is corrupt or truncated ({e})") from None
    missing = sorted(set(manifest) - seen)
    if missing:
        raise UserError(f"FSDD download from {url} lacks {len(missing)} of {len(manifest)} recordings "
                        f"(first: {missing[0]}): not FSDD {FSDD_TAG}")
    return len(seen), skipped
