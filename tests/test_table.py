"""Kaldi tables and compressed matrices (nnet2.io.table, nnet2.io.compressed).

These are checks against Kaldi's source (`src/util/kaldi-table.cc` ClassifyRspecifier /
ClassifyWspecifier, `src/util/kaldi-io.cc`, `src/util/kaldi-holder-inl.h`,
`src/matrix/compressed-matrix.cc`, `src/hmm/posterior.cc`): the expected bytes and values below are
derived by hand from those rules. No Kaldi binary is available here, so none of them are
Kaldi-written bytes.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import kaldiio
import numpy as np
import pytest

from nnet2.io import compressed, table
from nnet2.utils.errors import DataError, UserError

from conftest import subprocess_pythonpath


def subprocess_env():
    return dict(os.environ, PYTHONPATH=subprocess_pythonpath())


# ------------------------------------------------------------------------------------ grammar
@pytest.mark.parametrize("spec,kind,target", [
    ("ark:foo.ark", "ark", "foo.ark"),
    ("scp:foo.scp", "scp", "foo.scp"),
    ("b,ark:foo", "ark", "foo"),
    ("t no s scp:foo", "scp", "foo"),        # ' ' separates options too
    ("ark,s,cs:-", "ark", "-"),
    ("ark,o,p,bg:gunzip -c x.gz |", "ark", "gunzip -c x.gz |"),
    ("ark,t:a.txt", "ark", "a.txt"),         # 't' is accepted and ignored for reading
    ("ark,np,ns,ncs:x", "ark", "x"),
])
def test_rspecifier_valid(spec, kind, target):
    """Valid rspecifiers per ClassifyRspecifier (options split on ',' or ' ')."""
    r = table.classify_rspecifier(spec)
    assert r is not None and r.kind == kind and r.target == target


def test_rspecifier_options():
    """o/s/cs/p set, their n-forms reset (last one wins, as in Kaldi's loop)."""
    r = table.classify_rspecifier("ark,o,s,cs,p:x")
    assert (r.once, r.sorted, r.called_sorted, r.permissive) == (True, True, True, True)
    r = table.classify_rspecifier("ark,o,no,s,ns:x")
    assert (r.once, r.sorted) == (False, False)


@pytest.mark.parametrize("spec", [
    "foo.ark", "ark,scp:a,b", "scp,ark:a", "ark,ark:a", "ark,x:a", "ark:a ", "f,ark:a", "ark,f:a",
    ":a", "ark,,o:a", "b, ark:foo",
])
def test_rspecifier_invalid(spec):
    """kNoRspecifier: no ':', trailing space, both or repeated ark/scp, unknown option (incl. the
    write-only 'f' and an empty option between separators: SplitStringToVector(", ") keeps empty
    strings, so "b, ark:x" -- though it is in a comment of kaldi-table.cc -- is rejected by its code)."""
    assert table.classify_rspecifier(spec) is None
    with pytest.raises(UserError, match="is not a Kaldi rspecifier"):
        table.parse_rspecifier(spec)


@pytest.mark.parametrize("spec,kind,ark,scp,binary", [
    ("ark:a.ark", "ark", "a.ark", None, True),
    ("ark,t:a.txt", "ark", "a.txt", None, False),
    ("ark,b:a", "ark", "a", None, True),
    ("scp:a.scp", "scp", None, "a.scp", True),
    ("ark,scp:a.ark,b.scp", "both", "a.ark", "b.scp", True),
    ("ark,scp,t:a.ark,b.scp", "both", "a.ark", "b.scp", False),
    ("ark,scp,f:a.ark,b,c.scp", "both", "a.ark", "b,c.scp", True),  # split at the FIRST comma
    ("t,ark:-", "ark", "-", None, False),
    ("ark,nf,p:| gzip -c > x.gz", "ark", "| gzip -c > x.gz", None, True),
])
def test_wspecifier_valid(spec, kind, ark, scp, binary):
    """Valid wspecifiers per ClassifyWspecifier; ark,scp:A,S splits at the first comma."""
    w = table.classify_wspecifier(spec)
    assert w is not None
    assert (w.kind, w.ark, w.scp, w.binary) == (kind, ark, scp, binary)


@pytest.mark.parametrize("spec", ["scp,ark:a,b", "ark,scp:a.ark", "ark,ark:a", "scp,scp:a",
                                  "ark,o:a", "ark,s:a", "a.ark", "ark:a ", "x:a"])
def test_wspecifier_invalid(spec):
    """kNoWspecifier: 'scp,ark' (only 'ark,scp' is allowed), ark,scp without a comma, repeats,
    read-only options (o, s), no ':', trailing space."""
    assert table.classify_wspecifier(spec) is None
    with pytest.raises(UserError, match="is not a Kaldi wspecifier"):
        table.parse_wspecifier(spec)


def test_rx_wx_filenames():
    """ClassifyRxfilename / ClassifyWxfilename."""
    assert table.classify_rxfilename("-") == "stdin"
    assert table.classify_rxfilename("") == "stdin"
    assert table.classify_rxfilename("gunzip -c x |") == "pipe"
    assert table.classify_rxfilename("a.ark:123") == "offset"
    assert table.classify_rxfilename("a.ark") == "file"
    assert table.classify_wxfilename("-") == "stdout"
    assert table.classify_wxfilename("| gzip -c > x") == "pipe"
    assert table.classify_wxfilename("a.ark") == "file"
    with pytest.raises(UserError):
        table.classify_wxfilename("cmd |")
    with pytest.raises(UserError):
        table.classify_rxfilename("| cmd")
    with pytest.raises(UserError):
        table.classify_wxfilename("a.ark:12")


# ------------------------------------------------------------------------------------ archives
def test_binary_archive_bytes_and_scp(tmp_path):
    """`ark,scp:A,S`: entries are `key ` + \\0B + FM + int32 rows/cols (size byte 4) + float32 data;
    the scp points at the \\0B of each entry and names the archive exactly as given."""
    os.chdir(tmp_path)
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    table.write_table("ark,scp:a.ark,a.scp", [("u1", m), ("u2", m[:1])])
    expect = (b"u1 \0BFM \x04" + struct.pack("<i", 2) + b"\x04" + struct.pack("<i", 3) + m.tobytes()
              + b"u2 \0BFM \x04" + struct.pack("<i", 1) + b"\x04" + struct.pack("<i", 3) + m[:1].tobytes())
    assert open("a.ark", "rb").read() == expect
    off2 = len(b"u1 \0BFM ") + 10 + 24 + len(b"u2 ")
    assert open("a.scp").read() == f"u1 a.ark:3\nu2 a.ark:{off2}\n"
    got = table.read_table_dict("scp:a.scp")
    np.testing.assert_array_equal(got["u1"], m)
    # kaldiio (a third-party reader) agrees
    np.testing.assert_array_equal(kaldiio.load_scp("a.scp")["u2"], m[:1])
    assert sorted(os.listdir(".")) == ["a.ark", "a.scp"]


def test_text_archive_form(tmp_path):
    """`ark,t:`: `key  [` then rows `\\n  v v ` and `]\\n` (Matrix::Write text, precision 7)."""
    p = tmp_path / "t.txt"
    m = np.array([[1.0, 0.5], [1e-5, -2.25]], np.float32)
    table.write_table(f"ark,t:{p}", {"u": m, "e": np.zeros((0, 0), np.float32)})
    assert p.read_text() == "u  [\n  1 0.5 \n  1e-05 -2.25 ]\ne  [ ]\n"
    got = table.read_table_dict(f"ark:{p}")
    np.testing.assert_array_equal(got["u"], m)
    assert got["e"].shape == (0, 0)


def test_int_vector_and_posterior_forms(tmp_path):
    """BasicVectorHolder<int32> text `1 2 3 \\n`, binary size + values with size byte 4;
    Posterior binary int32 counts and (int32, float) pairs, text `[ id w ] ... \\n`."""
    a = tmp_path / "a.ark"
    table.write_table(f"ark:{a}", {"u": [7, -1]}, kind="int_vector")
    assert a.read_bytes() == b"u \0B\x04" + struct.pack("<i", 2) + b"\x04" + struct.pack("<i", 7) + \
        b"\x04" + struct.pack("<i", -1)
    t = tmp_path / "a.txt"
    table.write_table(f"ark,t:{t}", {"u": [7, -1], "e": []}, kind="int_vector")
    assert t.read_text() == "u 7 -1 \ne \n"
    assert {k: v.tolist() for k, v in table.read_table(f"ark:{t}", "int_vector")} == {"u": [7, -1], "e": []}
    post = [[(3, 1.0)], [(1, 0.25), (2, 0.75)]]
    p = tmp_path / "p.ark"
    table.write_table(f"ark:{p}", {"u": post}, kind="posterior")
    i = lambda v: b"\x04" + struct.pack("<i", v)  # noqa: E731
    f = lambda v: b"\x04" + struct.pack("<f", v)  # noqa: E731
    assert p.read_bytes() == b"u \0B" + i(2) + i(1) + i(3) + f(1.0) + i(2) + i(1) + f(0.25) + i(2) + f(0.75)
    pt = tmp_path / "p.txt"
    table.write_table(f"ark,t:{pt}", {"u": post}, kind="posterior")
    assert pt.read_text() == "u [ 3 1 ] [ 1 0.25 2 0.75 ] \n"
    for src in (p, pt):
        assert dict(table.read_table(f"ark:{src}", "posterior")) == {"u": post}


def test_pipes_and_std_streams(tmp_path):
    """`ark:| cmd` writes into a command, `ark:cmd |` reads from one, `ark,t:-` writes stdout and
    `ark:-` reads stdin."""
    m = np.arange(4, dtype=np.float32).reshape(2, 2)
    gz = tmp_path / "x.ark.gz"
    table.write_table(f"ark:| gzip -c > {gz}", {"u": m})
    got = table.read_table_dict(f"ark:gunzip -c {gz} |")
    np.testing.assert_array_equal(got["u"], m)
    code = ("import numpy as np; from nnet2.io import table; "
            "table.write_table('ark,t:-', {'u': np.eye(2, dtype=np.float32)})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=subprocess_env(), check=True)
    assert out.stdout == b"u  [\n  1 0 \n  0 1 ]\n"
    code = ("from nnet2.io import table; import sys; "
            "print({k: v.tolist() for k, v in table.read_table('ark:-')})")
    out = subprocess.run([sys.executable, "-c", code], input=out.stdout, capture_output=True,
                         env=subprocess_env(), check=True)
    assert out.stdout.strip() == b"{'u': [[1.0, 0.0], [0.0, 1.0]]}"
    with pytest.raises(DataError, match="failed"):
        list(table.read_table("ark:exit 3 |"))


def test_failed_write_leaves_nothing(tmp_path):
    """An error while writing a table leaves neither the archive nor the script behind, and does
    not touch an existing file of that name."""
    (tmp_path / "b.scp").write_text("keep\n")
    with pytest.raises(UserError):
        with table.TableWriter(f"ark,scp:{tmp_path}/a.ark,{tmp_path}/b.scp") as w:
            w.write("u", np.zeros((1, 1), np.float32))
            w.write("bad key", np.zeros((1, 1), np.float32))
    assert sorted(os.listdir(tmp_path)) == ["b.scp"]
    assert (tmp_path / "b.scp").read_text() == "keep\n"


def test_truncated_archive_is_one_clear_error(tmp_path):
    p = tmp_path / "a.ark"
    table.write_table(f"ark:{p}", {"utt1": np.ones((3, 4), np.float32)})
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"truncated input.*utterance 'utt1'"):
        list(table.read_table(f"ark:{p}"))


def test_scp_range(tmp_path):
    """scp entries `a.ark:off[r1:r2,c1:c2]` (ExtractRangeSpecifier: inclusive ranges)."""
    m = np.arange(20, dtype=np.float32).reshape(5, 4)
    table.write_table(f"ark,scp:{tmp_path}/a.ark,{tmp_path}/a.scp", {"u": m})
    line = (tmp_path / "a.scp").read_text().split()[1]
    (tmp_path / "r.scp").write_text(f"u {line}[1:2,0:1]\nv {line}[3:]\n")
    got = table.read_table_dict(f"scp:{tmp_path}/r.scp")
    np.testing.assert_array_equal(got["u"], m[1:3, 0:2])
    np.testing.assert_array_equal(got["v"], m[3:])


# --------------------------------------------------------------------------- compressed matrices
def _hdr(mn, rng, rows, cols):
    return struct.pack("<ffii", mn, rng, rows, cols)


def test_cm_speech_feature_bytes_by_hand():
    """kSpeechFeature (CM) of the 5x1 column 0..4, worked out by hand from compressed-matrix.cc:
    min 0, range 4; quarter_nr = 1 so percentiles are the sorted values 0, 1, 3, 4 ->
    FloatToUint16 = 0, trunc(0.25*65535+0.499)=16384, trunc(0.75*65535+0.499)=49151, 65535;
    bytes: 0 -> 0, 1 (just below p25=1.000015) -> 64, 2 -> 64+trunc(0.5*128+0.5)=128,
    3 (>= p75=2.99999) -> 192, 4 -> 255."""
    m = np.arange(5, dtype=np.float32).reshape(5, 1)
    want = b"CM " + _hdr(0.0, 4.0, 5, 1) + struct.pack("<4H", 0, 16384, 49151, 65535) + bytes([0, 64, 128, 192, 255])
    assert compressed.encode(m, 2) == want
    assert compressed.encode(m, 1) == compressed.encode(m, 3)  # automatic: 5 rows <= 8 -> kTwoByteAuto
    got = compressed.decode("CM", want[3:])
    np.testing.assert_allclose(got[:, 0], [0, 1, 2, 3, 4], atol=5e-5)


def test_cm_decode_formula_by_hand():
    """CM decode: p_i = min + range*(1/65535)*u_i (float), then CharToFloat per byte range
    [0,64] / (64,192] / (192,255]; values computed here with Python floats from those formulas."""
    p = [1000, 20000, 40000, 60000]
    body = _hdr(-2.0, 8.0, 4, 1) + struct.pack("<4H", *p) + bytes([0, 32, 100, 250])
    got = compressed.decode("CM", body)[:, 0]
    q = [-2.0 + 8.0 * u / 65535 for u in p]
    want = [q[0], q[0] + (q[1] - q[0]) * 32 / 64, q[1] + (q[2] - q[1]) * 36 / 128, q[2] + (q[3] - q[2]) * 58 / 63]
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    # kaldiio's decoder (third party) agrees to float rounding
    ark = b"k \0BCM " + body
    import io as _io
    np.testing.assert_allclose(dict(kaldiio.load_ark(_io.BytesIO(ark)))["k"][:, 0], want, atol=2e-5)


def test_cm2_cm3_decode_by_hand():
    """CM2: row-major uint16, value = min + u * (range/65535); CM3: uint8, min + u * (range/255)."""
    b2 = _hdr(-1.0, 2.0, 2, 2) + struct.pack("<4H", 0, 65535, 32768, 1)
    np.testing.assert_allclose(compressed.decode("CM2", b2), [[-1, 1], [-1 + 2 * 32768 / 65535, -1 + 2 / 65535]],
                               atol=1e-6)
    b3 = _hdr(0.0, 255.0, 1, 3) + bytes([0, 7, 255])
    np.testing.assert_array_equal(compressed.decode("CM3", b3), [[0, 7, 255]])


def test_integer_and_zero_one_methods_by_hand():
    """kTwoByteSignedInteger (4): min -32768 range 65535, u = v + 32768; kOneByteUnsignedInteger (6):
    min 0 range 255, u = v; kOneByteZeroOne (7): min 0 range 1, u = trunc(v*255 + 0.499)."""
    m = np.array([[-3, 0], [5, 100]], np.float32)
    assert compressed.encode(m, 4) == b"CM2 " + _hdr(-32768.0, 65535.0, 2, 2) + struct.pack("<4H", 32765, 32768, 32773, 32868)
    u = np.array([[0, 1], [2, 255]], np.float32)
    assert compressed.encode(u, 6) == b"CM3 " + _hdr(0.0, 255.0, 2, 2) + bytes([0, 1, 2, 255])
    z = np.array([[0.0, 1.0, 0.5]], np.float32)
    assert compressed.encode(z, 7) == b"CM3 " + _hdr(0.0, 1.0, 1, 3) + bytes([0, 255, 127])
    for meth, x in ((4, m), (6, u)):
        np.testing.assert_array_equal(compressed.decode(*table._split_cm(compressed.encode(x, meth))), x)


def test_constant_and_empty_matrix():
    """A constant matrix gets range 1+|min| (max = min + 1 + |min|); an empty one is `CM ` + 16 zero
    bytes."""
    c = np.full((3, 2), -2.0, np.float32)
    enc = compressed.encode(c, 3)
    mn, rng, r, k = struct.unpack_from("<ffii", enc, 4)
    assert (mn, rng, r, k) == (-2.0, 3.0, 3, 2)
    assert compressed.encode(np.zeros((0, 0), np.float32)) == b"CM " + bytes(16)
    with pytest.raises(UserError, match="NaN"):
        compressed.encode(np.array([[np.nan]], np.float32), 1)


@pytest.mark.parametrize("method", range(1, 8))
def test_all_methods_roundtrip_through_archives(tmp_path, method):
    """Every --compression-method writes the token Kaldi picks (1: CM if rows > 8 else CM2;
    2: CM; 3, 4: CM2; 5, 6, 7: CM3) and reads back within the method's resolution."""
    rng = np.random.default_rng(method)
    x = rng.standard_normal((12, 6)).astype(np.float32)
    if method == 6:
        x = rng.integers(0, 256, (12, 6)).astype(np.float32)
    if method == 7:
        x = rng.random((12, 6)).astype(np.float32)
    if method == 4:
        x = rng.integers(-300, 300, (12, 6)).astype(np.float32)
    p = tmp_path / "c.ark"
    table.write_table(f"ark:{p}", {"a": x, "b": x[:3]}, compress=method)
    data = p.read_bytes()
    tok = {1: b"CM ", 2: b"CM ", 3: b"CM2", 4: b"CM2", 5: b"CM3", 6: b"CM3", 7: b"CM3"}[method]
    assert data[4:7] == tok
    got = table.read_table_dict(f"ark:{p}")
    tol = {1: 0.05, 2: 0.05, 3: 1e-3, 4: 0, 5: 0.02, 6: 0, 7: 0.003}[method]
    np.testing.assert_allclose(got["a"], x, atol=tol)
    # text output of a compressed table is the decompressed matrix in text form (Kaldi's Write)
    t = tmp_path / "c.txt"
    table.write_table(f"ark,t:{t}", {"a": x}, compress=method)
    np.testing.assert_allclose(table.read_table_dict(f"ark:{t}")["a"], got["a"], rtol=1e-6, atol=1e-6)
