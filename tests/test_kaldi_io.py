"""Kaldi basic I/O: exact bytes in both modes, float formatting, malformed and truncated input."""

import struct

import numpy as np
import pytest

from nnet2.io.kaldi_io import KaldiReader, KaldiWriter, format_float
from nnet2.utils.errors import ModelFormatError


@pytest.mark.parametrize("x,s", [
    (1e-05, "1e-05"), (0.1, "0.1"), (-3.4028234663852886e38, "-3.402823e+38"), (4.0, "4"),
    (2000.0, "2000"), (0.075, "0.075"), (1234567.0, "1234567"), (12345678.0, "1.234568e+07"),
    (-0.6931471805599453, "-0.6931472"), (0.0, "0"), (1e-20, "1e-20"), (float("inf"), "inf"),
])
def test_float_format_matches_cxx_precision7(x, s):
    w = KaldiWriter(False)
    w.float(x)
    assert w.getvalue() == (s + " ").encode()
    assert format_float(np.float32(x)) == s


def test_text_scalars_exact_bytes():
    w = KaldiWriter(False)
    w.token("<Nnet>"); w.int32(-7); w.bool(True); w.bool(False); w.double(0.5)
    w.newline_if_text(); w.int_vector([1, -2, 3]); w.int_vector([])
    assert w.getvalue() == b"<Nnet> -7 T F 0.5 \n[ 1 -2 3 ]\n[ ]\n"


def test_binary_scalars_exact_bytes():
    w = KaldiWriter(True)
    w.token("<A>"); w.int32(258); w.float(0.5); w.double(0.25); w.bool(True); w.bool(False)
    w.int_vector([5, 6]); w.newline_if_text()
    assert w.getvalue() == (b"\0B<A> " + b"\x04" + struct.pack("<i", 258)
                            + b"\x04" + struct.pack("<f", 0.5) + b"\x08" + struct.pack("<d", 0.25)
                            + b"TF" + b"\x04" + struct.pack("<iii", 2, 5, 6))


def test_text_vector_and_matrix_exact_bytes():
    w = KaldiWriter(False)
    w.vector(np.array([1, 0.5, -2], np.float32)); w.vector(np.zeros(0))
    w.matrix(np.array([[1, 2], [3, 4.5]], np.float32)); w.matrix(np.zeros((0, 0)))
    assert w.getvalue() == (b" [ 1 0.5 -2 ]\n [ ]\n [\n  1 2 \n  3 4.5 ]\n [ ]\n")


def test_binary_vector_and_matrix_exact_bytes():
    w = KaldiWriter(True)
    w.vector(np.array([1, 2], np.float32)); w.vector(np.array([3.0]), dtype=np.float64)
    w.matrix(np.array([[1, 2, 3]], np.float32))
    assert w.getvalue() == (b"\0BFV \x04" + struct.pack("<i2f", 2, 1, 2)
                            + b"DV \x04" + struct.pack("<id", 1, 3.0)
                            + b"FM \x04" + struct.pack("<i", 1) + b"\x04" + struct.pack("<i3f", 3, 1, 2, 3))


@pytest.mark.parametrize("binary", [False, True])
def test_roundtrip_all_kinds(binary):
    rng = np.random.default_rng(0)
    M = rng.standard_normal((5, 7)).astype(np.float32)
    v = rng.standard_normal(9).astype(np.float32)
    w = KaldiWriter(binary)
    w.token("<X>"); w.int32(3); w.float(0.25); w.bool(True); w.vector(v); w.matrix(M)
    w.vector(v.astype(np.float64), dtype=np.float64); w.int_vector([-1, 0, 1]); w.token("</X>")
    data = w.getvalue()
    r = KaldiReader(data, "mem")
    assert r.binary == binary
    assert r.peek_token() == "<X>"
    r.expect_token("<X>")
    assert r.read_int() == 3 and r.read_float() == 0.25 and r.read_bool() is True
    v2, M2 = r.read_vector(), r.read_matrix()
    vd = r.read_vector(np.float64)
    assert r.read_int_vector().tolist() == [-1, 0, 1]
    r.expect_token("</X>")
    assert r.at_eof()
    tol = 0 if binary else 1e-6
    np.testing.assert_allclose(v2, v, rtol=tol, atol=0)
    np.testing.assert_allclose(M2, M, rtol=tol, atol=0)
    np.testing.assert_allclose(vd, v, rtol=tol, atol=0)
    assert M2.dtype == np.float32 and M2.shape == (5, 7)
    # Writing what was read gives the same bytes again (text: %.7g is stable under re-parse).
    w2 = KaldiWriter(binary)
    w2.token("<X>"); w2.int32(3); w2.float(0.25); w2.bool(True); w2.vector(v2); w2.matrix(M2)
    w2.vector(vd, dtype=np.float64); w2.int_vector([-1, 0, 1]); w2.token("</X>")
    assert w2.getvalue() == data


def test_text_to_binary_values_equal():
    rng = np.random.default_rng(1)
    M = rng.standard_normal((4, 3)).astype(np.float32)
    wt = KaldiWriter(False); wt.matrix(M)
    Mt = KaldiReader(wt.getvalue()).read_matrix()
    wb = KaldiWriter(True); wb.matrix(Mt)
    Mb = KaldiReader(wb.getvalue()).read_matrix()
    assert np.array_equal(Mt, Mb)


def test_reader_accepts_double_storage_and_kaldi_variants():
    data = b"\0BDM \x04" + struct.pack("<i", 1) + b"\x04" + struct.pack("<i2d", 2, 0.5, 1.5)
    np.testing.assert_array_equal(KaldiReader(data).read_matrix(), [[0.5, 1.5]])
    r = KaldiReader(b" [] []\n [ 1 2 ; 3 4 ]\n [ inf nan -1e-05 ]\n")
    assert r.read_matrix().shape == (0, 0) and r.read_vector().shape == (0,)
    np.testing.assert_array_equal(r.read_matrix(), [[1, 2], [3, 4]])
    v = r.read_vector()
    assert np.isinf(v[0]) and np.isnan(v[1]) and v[2] == np.float32(-1e-05)
    # double-size float in binary is accepted for a float field
    assert KaldiReader(b"\0B\x08" + struct.pack("<d", 0.1)).read_float() == float(np.float32(0.1))


@pytest.mark.parametrize("data,call,msg", [
    (b"<A> ", lambda r: r.expect_token("<B>"), "token <B>"),
    (b"abc ", lambda r: r.read_int(), "int32"),
    (b"1.5x ", lambda r: r.read_float(), "float"),
    (b"X", lambda r: r.read_bool(), "T or F"),
    (b" 1 2 ]", lambda r: r.read_vector(), "'['"),
    (b" [ 1 2 ", lambda r: r.read_vector(), "']'"),
    (b" [ 1\n 2 ]\n", lambda r: r.read_vector(), "one line"),
    (b" [ 1 zz 3 ]\n", lambda r: r.read_vector(), "zz"),
    (b" [\n  1 2 \n  3 ]\n", lambda r: r.read_matrix(), "row 1"),
    (b" [\n  1 2 \n  3 4 ", lambda r: r.read_matrix(), "']'"),
    (b"[ 1 x ]\n", lambda r: r.read_int_vector(), "integer"),
    (b"\0BFX \x04\x00\x00\x00\x00", lambda r: r.read_vector(), "FV or DV"),
    (b"\0BCM ", lambda r: r.read_matrix(), "compressed"),
    (b"\0B\x08\x00\x00\x00\x00\x00\x00\x00\x00", lambda r: r.read_int(), "size byte 4"),
    (b"\0B\x02\x00\x00", lambda r: r.read_float(), "size byte 4 or 8"),
    (b"\0X", lambda r: None, "binary header"),
    (b"99999999999 ", lambda r: r.read_int(), "int32 range"),
    (b"\0BFV \x04\xff\xff\xff\xff", lambda r: r.read_vector(), "non-negative"),
])
def test_malformed_inputs_raise_model_format_error(data, call, msg):
    with pytest.raises(ModelFormatError) as ei:
        call(KaldiReader(data, "bad.mdl"))
    assert "bad.mdl" in str(ei.value) and "byte offset" in str(ei.value)
    assert msg in str(ei.value)


def test_truncation_at_every_offset_binary_and_text():
    rng = np.random.default_rng(2)
    for binary in (True, False):
        w = KaldiWriter(binary)
        w.token("<X>"); w.int32(3); w.float(0.5); w.bool(True)
        w.vector(rng.standard_normal(3)); w.matrix(rng.standard_normal((2, 2)))
        w.int_vector([1, 2]); w.token("</X>")
        data = w.getvalue()

        def read_all(r):
            r.expect_token("<X>"); r.read_int(); r.read_float(); r.read_bool()
            r.read_vector(); r.read_matrix(); r.read_int_vector(); r.expect_token("</X>")

        read_all(KaldiReader(data))
        for cut in range(len(data)):
            with pytest.raises(ModelFormatError):
                read_all(KaldiReader(data[:cut], "cut"))


def test_large_text_matrix_round_trip():
    """A 1024 x 1024 text matrix round-trips (no wall-clock limit: tests never time)."""
    M = np.random.default_rng(3).standard_normal((1024, 1024)).astype(np.float32)
    w = KaldiWriter(False); w.matrix(M)
    data = w.getvalue()
    M2 = KaldiReader(data).read_matrix()
    assert M2.shape == M.shape
    np.testing.assert_allclose(M2, M, rtol=1e-6)
