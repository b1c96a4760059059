"""Kaldi's compressed matrices (`CM`, `CM2`, `CM3`), decoded and encoded as `src/matrix/compressed-matrix.cc`
does, in the same float32/double arithmetic.

Layout after the token (binary only; text mode writes the decompressed matrix as a plain matrix):

    GlobalHeader (16 bytes; the int32 `format` is implied by the token and not written):
        float32 min_value, float32 range, int32 num_rows, int32 num_cols
    CM  (format 1, kOneByteWithColHeaders): num_cols PerColHeaders (4 × uint16: percentile 0, 25, 75,
        100 on the global 16-bit scale), then column-major uint8 data (num_cols × num_rows)
    CM2 (format 2, kTwoByte): row-major uint16 data
    CM3 (format 3, kOneByte): row-major uint8 data

An empty matrix is written as ``CM`` with an all-zero header.

Compression methods (`CompressionMethod` in `compressed-matrix.h`, `copy-feats --compression-method`):
1 kAutomaticMethod (kSpeechFeature if rows > 8 else kTwoByteAuto), 2 kSpeechFeature (CM),
3 kTwoByteAuto (CM2), 4 kTwoByteSignedInteger (CM2, min -32768, range 65535), 5 kOneByteAuto (CM3),
6 kOneByteUnsignedInteger (CM3, min 0, range 255), 7 kOneByteZeroOne (CM3, min 0, range 1).
"""

from __future__ import annotations

import struct

import numpy as np

from nnet2.utils.errors import DataError, UserError

_HDR = struct.Struct("<ffii")
HEADER_BYTES = _HDR.size  # 16
_F32 = np.float32
_C16 = np.float32(1.52590218966964e-05)  # the float literal 1/65535 in Uint16ToFloat

TOKEN_FORMAT = {"CM": 1, "CM2": 2, "CM3": 3}
FORMAT_TOKEN = {1: "CM", 2: "CM2", 3: "CM3"}
METHOD_NAMES = {1: "kAutomaticMethod", 2: "kSpeechFeature", 3: "kTwoByteAuto",
                4: "kTwoByteSignedInteger", 5: "kOneByteAuto", 6: "kOneByteUnsignedInteger",
                7: "kOneByteZeroOne"}


def data_size(fmt: int, rows: int, cols: int) -> int:
    """Bytes after the 16-byte header (DataSize minus the GlobalHeader)."""
    if fmt == 1:
        return cols * (8 + rows)
    if fmt == 2:
        return 2 * rows * cols
    return rows * cols


def _u16_to_float(min_value, rng, v):
    # min_value + range * 1.52590218966964e-05F * value, all float32
    return (_F32(rng) * _C16 * np.asarray(v).astype(_F32) + _F32(min_value)).astype(_F32)


def decode(token: str, body: bytes, name: str = "<matrix>") -> np.ndarray:
    """Decompress: `body` = the bytes after the token (header + data). Returns float32 (rows, cols)."""
    fmt = TOKEN_FORMAT[token]
    if len(body) < HEADER_BYTES:
        raise DataError(f"{name}: truncated compressed matrix header ({len(body)} of 16 bytes)")
    mn, rng, rows, cols = _HDR.unpack_from(body)
    if cols == 0 or rows == 0:
        return np.zeros((0, 0), dtype=np.float32)
    if rows < 0 or cols < 0:
        raise DataError(f"{name}: compressed matrix with negative size {rows}x{cols}")
    need = data_size(fmt, rows, cols)
    if len(body) < HEADER_BYTES + need:
        raise DataError(f"{name}: truncated compressed matrix ({token} {rows}x{cols} needs {need} "
                        f"data bytes, found {len(body) - HEADER_BYTES})")
    mn, rng = _F32(mn), _F32(rng)
    d = memoryview(body)[HEADER_BYTES:HEADER_BYTES + need]
    if fmt == 2:
        inc = _F32(np.float64(rng) * (1.0 / 65535.0))
        u = np.frombuffer(d, dtype="<u2").reshape(rows, cols)
        return (mn + u.astype(_F32) * inc).astype(_F32)
    if fmt == 3:
        inc = _F32(np.float64(rng) * (1.0 / 255.0))
        u = np.frombuffer(d, dtype="<u1").reshape(rows, cols)
        return (mn + u.astype(_F32) * inc).astype(_F32)
    hdr = np.frombuffer(d, dtype="<u2", count=4 * cols).reshape(cols, 4)
    p = _u16_to_float(mn, rng, hdr)  # (cols, 4): p0 p25 p75 p100
    p0, p25, p75, p100 = (p[:, i:i + 1] for i in range(4))
    b = np.frombuffer(d, dtype="<u1", offset=8 * cols).reshape(cols, rows).astype(np.int32)
    # CharToFloat: float32 product, then times a double constant, added in double, stored as float.
    lo = np.float64(p0) + np.float64(((p25 - p0) * b.astype(_F32)).astype(_F32)) * (1 / 64.0)
    mid = np.float64(p25) + np.float64(((p75 - p25) * (b - 64).astype(_F32)).astype(_F32)) * (1 / 128.0)
    hi = np.float64(p75) + np.float64(((p100 - p75) * (b - 192).astype(_F32)).astype(_F32)) * (1 / 63.0)
    out = np.where(b <= 64, lo, np.where(b <= 192, mid, hi)).astype(_F32)
    return np.ascontiguousarray(out.T)


def _float_to_uint(min_value, rng, v, scale: int) -> np.ndarray:
    f = ((np.asarray(v, _F32) - _F32(min_value)) / _F32(rng)).astype(_F32)
    f = np.clip(f, _F32(0.0), _F32(1.0))
    return np.trunc(np.float64((f * _F32(scale)).astype(_F32)) + 0.499).astype(np.int64)


def _col_headers(mn, rng, m: np.ndarray) -> np.ndarray:
    """ComputeColHeader for every column of float32 m (rows, cols) -> int (cols, 4)."""
    rows = m.shape[0]
    s = np.sort(m, axis=0)
    f2u = lambda x: _float_to_uint(mn, rng, x, 65535)  # noqa: E731
    if rows >= 5:
        q = rows // 4
        p0 = np.minimum(f2u(s[0]), 65532)
        p25 = np.minimum(np.maximum(f2u(s[q]), p0 + 1), 65533)
        p75 = np.minimum(np.maximum(f2u(s[3 * q]), p25 + 1), 65534)
        p100 = np.maximum(f2u(s[rows - 1]), p75 + 1)
    else:
        p0 = np.minimum(f2u(s[0]), 65532)
        p25 = np.minimum(np.maximum(f2u(s[1]), p0 + 1), 65533) if rows > 1 else p0 + 1
        p75 = np.minimum(np.maximum(f2u(s[2]), p25 + 1), 65534) if rows > 2 else p25 + 1
        p100 = np.maximum(f2u(s[3]), p75 + 1) if rows > 3 else p75 + 1
    return np.stack([p0, p25, p75, p100], axis=1)


def _float_to_char(p0, p25, p75, p100, v) -> np.ndarray:
    def seg(a, b, scale, base, top):
        f = ((v - a) / (b - a)).astype(_F32)
        ans = base + np.trunc(np.float64((f * _F32(scale)).astype(_F32)) + 0.5)
        return np.clip(ans, base, top)

    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = seg(p0, p25, 64, 0, 64)
        r2 = seg(p25, p75, 128, 64, 192)
        r3 = seg(p75, p100, 63, 192, 255)
    return np.where(v < p25, r1, np.where(v < p75, r2, r3)).astype(np.uint8)


def encode(mat, method: int = 1) -> bytes:
    """CompressedMatrix(mat, method).Write(binary): the token, the header and the data."""
    m = np.asarray(mat)
    if m.ndim != 2:
        raise UserError(f"only matrices can be compressed (got shape {m.shape})")
    if method not in METHOD_NAMES:
        raise UserError(f"invalid --compression-method={method} (Kaldi's are 1..7)")
    m = np.ascontiguousarray(m, dtype=_F32)
    rows, cols = m.shape
    if rows == 0:
        return b"CM " + _HDR.pack(0.0, 0.0, 0, 0)
    if method == 1:
        method = 2 if rows > 8 else 3
    fmt = 1 if method == 2 else 2 if method in (3, 4) else 3
    if method in (2, 3, 5):
        if not np.isfinite(m).all():
            raise UserError("cannot compress a matrix with NaN or Inf")
        mn, mx = _F32(m.min()), _F32(m.max())
        if mx == mn:
            mx = _F32(np.float64(mn) + (1.0 + abs(np.float64(mn))))
        rng = _F32(mx - mn)
    else:
        mn, rng = {4: (-32768.0, 65535.0), 6: (0.0, 255.0), 7: (0.0, 1.0)}[method]
        mn, rng = _F32(mn), _F32(rng)
    hdr = _HDR.pack(float(mn), float(rng), rows, cols)
    if fmt == 2:
        data = _float_to_uint(mn, rng, m, 65535).astype("<u2").tobytes()
    elif fmt == 3:
        data = _float_to_uint(mn, rng, m, 255).astype("<u1").tobytes()
    else:
        h = _col_headers(mn, rng, m)  # (cols, 4)
        p = _u16_to_float(mn, rng, h)
        p0, p25, p75, p100 = (p[:, i][None, :] for i in range(4))
        chars = _float_to_char(p0, p25, p75, p100, m)  # (rows, cols)
        data = h.astype("<u2").tobytes() + np.ascontiguousarray(chars.T).tobytes()
    return FORMAT_TOKEN[fmt].encode() + b" " + hdr + data
