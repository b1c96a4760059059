import gzip
import struct

import kaldiio
import numpy as np
import pytest

from nnet2.data.alignments import (ali_to_pdf, initial_priors, int_vector_ark_bytes, pdf_counts,
                                   read_alignments, read_pdf_alignments, write_ali)
from nnet2.utils.errors import DataError


def kaldi_bytes(key, vals):
    """Kaldi's BasicVectorHolder<int32> binary entry, built by hand from src/util/kaldi-holder-inl.h."""
    out = key.encode() + b" " + b"\0B" + b"\x04" + struct.pack("<i", len(vals))
    for v in vals:
        out += b"\x04" + struct.pack("<i", v)
    return out


ALIS = {"utt1": np.array([1, 2, 2, 3], np.int32), "utt2": np.array([], np.int32),
        "utt-3": np.array([7, 70000, 5], np.int32)}


def test_exact_kaldi_bytes_and_roundtrip(tmp_path):
    expect = b"".join(kaldi_bytes(k, v) for k, v in ALIS.items())
    assert int_vector_ark_bytes(ALIS) == expect
    write_ali(tmp_path / "ali.1.ark", ALIS)
    assert (tmp_path / "ali.1.ark").read_bytes() == expect
    write_ali(tmp_path / "ali.1.gz", ALIS)
    assert gzip.decompress((tmp_path / "ali.1.gz").read_bytes()) == expect
    # kaldiio's own (slow) reader agrees with the bytes we write
    got = dict(kaldiio.load_ark(str(tmp_path / "ali.1.ark")))
    for k, v in ALIS.items():
        np.testing.assert_array_equal(got[k], v)


@pytest.mark.parametrize("spec", ["ali.1.gz", "ali.1.ark", "ark:ali.1.ark", "ali.*.gz",
                                  "ark:gunzip -c {d}/ali.1.gz |", "gunzip -c {d}/ali.1.gz |"])
def test_read_forms(tmp_path, spec):
    write_ali(tmp_path / "ali.1.gz", ALIS)
    write_ali(tmp_path / "ali.1.ark", ALIS)
    spec = spec.format(d=tmp_path)
    if "|" not in spec:
        spec = spec.replace("ark:", "ark:" + str(tmp_path) + "/") if spec.startswith("ark:") \
            else str(tmp_path / spec)
    got = read_alignments(spec)
    assert list(got) == list(ALIS)
    for k in ALIS:
        np.testing.assert_array_equal(got[k], ALIS[k])
        assert got[k].dtype == np.int32


def test_text_and_glob_order(tmp_path):
    (tmp_path / "a.txt").write_text("u1 1 2 3\nu2 4\n")
    got = read_alignments(f"ark,t:{tmp_path}/a.txt")
    np.testing.assert_array_equal(got["u1"], [1, 2, 3])
    np.testing.assert_array_equal(got["u2"], [4])
    for i in (10, 2, 1):
        write_ali(tmp_path / f"ali.{i}.gz", {f"x{i}": np.array([i], np.int32)})
    assert list(read_alignments(str(tmp_path / "ali.*.gz"))) == ["x1", "x2", "x10"]


def test_scp_via_kaldiio(tmp_path):
    kaldiio.save_ark(str(tmp_path / "a.ark"), {"u1": np.array([3, 4], np.int32)}, scp=str(tmp_path / "a.scp"))
    np.testing.assert_array_equal(read_alignments(str(tmp_path / "a.scp"))["u1"], [3, 4])


def test_bad_archives(tmp_path):
    good = kaldi_bytes("u1", [1, 2, 3])
    (tmp_path / "trunc.ark").write_bytes(good[:-3])
    with pytest.raises(DataError, match="u1.*truncated"):
        read_alignments(str(tmp_path / "trunc.ark"))
    bad = bytearray(good)
    bad[len(b"u1 \0B\x04") + 4] = 8
    (tmp_path / "bad.ark").write_bytes(bytes(bad))
    with pytest.raises(DataError, match="u1.*size byte 4"):
        read_alignments(str(tmp_path / "bad.ark"))
    (tmp_path / "dup.ark").write_bytes(good + good)
    with pytest.raises(DataError, match="'u1' appears twice"):
        read_alignments(str(tmp_path / "dup.ark"))
    (tmp_path / "t.txt").write_text("u1 1 x 3\n")
    with pytest.raises(DataError, match="u1.*non-integer"):
        read_alignments(str(tmp_path / "t.txt"))
    with pytest.raises(DataError, match="no alignment files match"):
        read_alignments(str(tmp_path / "nothing.*.gz"))
    with pytest.raises(DataError, match="cannot read"):
        read_alignments(str(tmp_path / "missing.gz"))


def test_ali_to_pdf_and_bad_tid(tmp_path):
    tid2pdf = np.array([-1, 0, 0, 1, 1, 2], np.int32)  # 5 transition-ids
    np.testing.assert_array_equal(ali_to_pdf(np.array([1, 3, 5, 4]), tid2pdf), [0, 1, 2, 1])
    with pytest.raises(DataError, match=r"'uttX'.*transition-id 6.*5 transition-ids"):
        ali_to_pdf(np.array([1, 6]), tid2pdf, utt="uttX")
    with pytest.raises(DataError, match="transition-id 0"):
        ali_to_pdf(np.array([0, 1]), tid2pdf)
    write_ali(tmp_path / "ali.1.gz", {"a": np.array([1, 2, 5], np.int32), "b": np.array([9], np.int32)})
    with pytest.raises(DataError, match="'b'.*transition-id 9"):
        read_pdf_alignments(str(tmp_path / "ali.1.gz"), tid2pdf=tid2pdf)
    got = read_pdf_alignments(str(tmp_path / "ali.1.gz"), is_pdf=True, num_pdfs=10)
    np.testing.assert_array_equal(got["b"], [9])
    with pytest.raises(DataError, match="'a'.*pdf-id 5 is out of range"):
        read_pdf_alignments(str(tmp_path / "ali.1.gz"), is_pdf=True, num_pdfs=5)


def test_counts_and_priors():
    c = pdf_counts({"a": np.array([0, 0, 2]), "b": np.array([2, 2])}, 4)
    np.testing.assert_array_equal(c, [2, 0, 3, 0])
    p = initial_priors(c)
    ref = np.maximum(c / 5, 5e-6)
    ref /= ref.sum()
    np.testing.assert_allclose(p, ref, rtol=1e-15)
    assert p[1] > 0 and abs(p.sum() - 1) < 1e-15
    with pytest.raises(DataError):
        initial_priors(np.zeros(3))
