"""FSDD download (stage 0 without a local copy): the archive is served from a local copy of FSDD,
through a local HTTP server on 127.0.0.1 and through a file:// URL; never from the internet.

These are consistency checks against archives we build ourselves from the local copy, in the
layout of GitHub's source archive of a tag (`free-spoken-digit-dataset-1.0.10/recordings/...`). That
the committed manifest matches the real release is checked by the manifest test (the local copy's
files) and, outside CI, by a real download."""

import functools
import hashlib
import http.server
import io
import os
import subprocess
import sys
import tarfile
import threading
import zipfile

import pytest

from conftest import subprocess_pythonpath

from nnet2.corpora import fsdd_download as fd
from nnet2.corpora.fsdd import default_fsdd_dir, list_recordings, resolve_fsdd_dir
from nnet2.utils.errors import UserError

TOP = "free-spoken-digit-dataset-1.0.10"


def local_fsdd_or_skip():
    """A verified FSDD copy already on this machine ($FSDD_DIR, ../shared/data/fsdd or the download
    cache); never downloads."""
    try:
        return default_fsdd_dir()
    except UserError:
        pytest.skip("no FSDD copy to build a test archive from ($FSDD_DIR, ../shared/data/fsdd, the cache)")


def _add(tf, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def make_tar(path, fsdd, gz=True, alter=None, drop=None, extra=()):
    """GitHub-style source archive of FSDD: top folder, recordings/, plus non-recording files."""
    with tarfile.open(path, "w:gz" if gz else "w", **({"compresslevel": 1} if gz else {})) as tf:
        _add(tf, f"{TOP}/README.md", b"# Free Spoken Digit Dataset\n")
        _add(tf, f"{TOP}/metadata.py", b"metadata = {}\n")
        for name in sorted(os.listdir(os.path.join(fsdd, "recordings"))):
            if name == drop:
                continue
            data = open(os.path.join(fsdd, "recordings", name), "rb").read()
            if name == alter:
                data = data[:-1] + bytes([data[-1] ^ 1])
            _add(tf, f"{TOP}/recordings/{name}", data)
        for name, data in extra:
            _add(tf, name, data)
    return str(path)


def make_zip(path, fsdd):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{TOP}/README.md", "# Free Spoken Digit Dataset\n")
        for name in sorted(os.listdir(os.path.join(fsdd, "recordings"))):
            z.write(os.path.join(fsdd, "recordings", name), f"{TOP}/recordings/{name}")
    return str(path)


@pytest.fixture(scope="module")
def fsdd():
    return local_fsdd_or_skip()


@pytest.fixture(scope="module")
def served(tmp_path_factory, fsdd):
    """A folder of archives and an http://127.0.0.1:PORT/ base URL serving it (in a thread)."""
    d = tmp_path_factory.mktemp("www")
    make_tar(d / "fsdd.tar.gz", fsdd)
    handler = functools.partial(QuietHandler, directory=str(d))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield d, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_manifest_matches_local_copy(fsdd):
    """Every recording of the local copy is in the committed manifest with its SHA-256, and no more."""
    manifest = fd.read_manifest()
    assert len(manifest) == 3000
    names = sorted(os.listdir(os.path.join(fsdd, "recordings")))
    assert sorted(k.split("/", 1)[1] for k in manifest) == names
    for name in names:
        h = hashlib.sha256(open(os.path.join(fsdd, "recordings", name), "rb").read()).hexdigest()
        assert manifest[f"recordings/{name}"] == h, name


def test_download_http_verified_and_cached(served, tmp_path, fsdd):
    d, base = served
    cache = tmp_path / "cache" / "fsdd"
    out = fd.fetch_fsdd(cache_dir=str(cache), url=base + "fsdd.tar.gz")
    assert out == str(cache)
    recs = list_recordings(out)
    assert len(recs) == 3000
    for name in ("0_george_0.wav", "9_yweweler_49.wav"):
        assert (cache / "recordings" / name).read_bytes() == open(os.path.join(fsdd, "recordings", name), "rb").read()
    assert not (cache / "README.md").exists() and not (cache / "metadata.py").exists()
    assert fd.cached_fsdd(str(cache)) == str(cache)
    # nothing but the cache folder itself beside it (the temporary download folder is gone)
    assert sorted(os.listdir(cache.parent)) == ["fsdd"]
    # a second call uses the cache, even with a URL that would fail
    assert fd.fetch_fsdd(cache_dir=str(cache), url=base + "missing.tar.gz") == str(cache)


def test_download_file_url_zip(tmp_path, fsdd):
    z = make_zip(tmp_path / "fsdd.zip", fsdd)
    cache = tmp_path / "c"
    out = fd.fetch_fsdd(cache_dir=str(cache), url="file://" + z)
    assert len(list_recordings(out)) == 3000


def test_checksum_mismatch_leaves_nothing(tmp_path, fsdd):
    bad = make_tar(tmp_path / "bad.tar", fsdd, gz=False, alter="5_theo_17.wav")
    cache = tmp_path / "cache" / "fsdd"
    with pytest.raises(UserError, match=r"recordings/5_theo_17.wav fails its SHA-256 check"):
        fd.fetch_fsdd(cache_dir=str(cache), url="file://" + bad)
    assert os.listdir(cache.parent) == []


def test_missing_recording_and_extra_files(tmp_path, fsdd):
    """A recording missing from the archive is an error; files outside the manifest (another
    speaker, a path trying to escape) are never written."""
    evil = [(f"{TOP}/recordings/0_mallory_0.wav", b"RIFF"), (f"{TOP}/../../escape.wav", b"x"),
            ("/abs/recordings/x.wav", b"x")]
    a = make_tar(tmp_path / "short.tar", fsdd, gz=False, drop="3_lucas_3.wav", extra=evil)
    cache = tmp_path / "cache" / "fsdd"
    with pytest.raises(UserError, match=r"lacks 1 of 3000 recordings \(first: recordings/3_lucas_3.wav\)"):
        fd.fetch_fsdd(cache_dir=str(cache), url="file://" + a)
    assert os.listdir(cache.parent) == []
    ok = make_tar(tmp_path / "extra.tar", fsdd, gz=False, extra=evil)
    out = fd.fetch_fsdd(cache_dir=str(cache), url="file://" + ok)
    assert len(os.listdir(os.path.join(out, "recordings"))) == 3000
    assert not list(tmp_path.rglob("escape.wav")) and not list(tmp_path.rglob("0_mallory_0.wav"))


def test_truncated_and_unreachable(served, tmp_path):
    d, base = served
    data = (d / "fsdd.tar.gz").read_bytes()
    (d / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    cache = tmp_path / "cache" / "fsdd"
    with pytest.raises(UserError, match=r"corrupt or truncated"):
        fd.fetch_fsdd(cache_dir=str(cache), url=base + "cut.tar.gz")
    with pytest.raises(UserError, match=r"cannot download FSDD from .*HTTP 404"):
        fd.fetch_fsdd(cache_dir=str(cache), url=base + "nothing-here.tar.gz")
    (d / "notes.txt").write_bytes(b"not an archive\n" * 100)
    with pytest.raises(UserError, match=r"not a tar or zip archive"):
        fd.fetch_fsdd(cache_dir=str(cache), url=base + "notes.txt")
    assert os.listdir(cache.parent) == []


def test_existing_unverified_cache_is_not_clobbered(tmp_path, fsdd):
    cache = tmp_path / "mine"
    cache.mkdir()
    (cache / "keep.txt").write_text("user data")
    with pytest.raises(UserError, match="exists but is not a verified FSDD"):
        fd.fetch_fsdd(cache_dir=str(cache), url="file:///nonexistent.tar.gz")
    assert (cache / "keep.txt").read_text() == "user data"


def test_resolution_order(tmp_path, monkeypatch, fsdd):
    """--fsdd-dir, then $FSDD_DIR, then a local copy, then the (verified) cache, then a download."""
    monkeypatch.setenv("FSDD_DIR", "/from/env")
    assert resolve_fsdd_dir("/given") == "/given"
    assert resolve_fsdd_dir("") == "/from/env"
    # no local copy anywhere: the download (here from a file:// URL) into the cache
    monkeypatch.delenv("FSDD_DIR")
    monkeypatch.setattr("nnet2.corpora.fsdd.shared_candidates", lambda: [str(tmp_path / "no" / "fsdd")])
    tar = make_tar(tmp_path / "fsdd.tar", fsdd, gz=False)
    monkeypatch.setenv(fd.URL_ENV, "file://" + tar)
    monkeypatch.setenv(fd.CACHE_ENV, str(tmp_path / "cache"))
    assert resolve_fsdd_dir("") == str(tmp_path / "cache")
    # and once cached, the local lookup finds it without downloading
    monkeypatch.setenv(fd.URL_ENV, "file:///nonexistent.tar.gz")
    assert resolve_fsdd_dir("") == str(tmp_path / "cache")


def test_cli_download_one_line_errors(served, tmp_path):
    """`nnet2 download-fsdd` prints the folder; a bad download is one line, exit 1, no traceback."""
    d, base = served
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), NNET2_FSDD_URL=base + "fsdd.tar.gz",
               NNET2_FSDD_CACHE=str(tmp_path / "c"))
    r = subprocess.run([sys.executable, "-m", "nnet2", "download-fsdd"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "c")
    env["NNET2_FSDD_CACHE"] = str(tmp_path / "d")
    r = subprocess.run([sys.executable, "-m", "nnet2", "download-fsdd", "--url", base + "nope.zip"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 1  # the LOG line saying what it fetches, then the error
    assert r.stderr.strip().splitlines()[-1].startswith("nnet2 download-fsdd: error: cannot download FSDD from")
    assert "Traceback" not in r.stderr and not os.path.exists(tmp_path / "d")
