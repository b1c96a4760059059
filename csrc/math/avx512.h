// AVX-512 helpers for the hand-written CPU kernels (ngd/projection.cc, the p-norm passes of nnet/kernels.cc).
//
// The core is built for baseline x86-64 (math/simd.h), so a kernel written with these intrinsics carries
// NNET2_AVX512 (compiled for AVX-512F + FMA whatever the build's -march) and runs only where Avx512Available()
// says so; every caller keeps a portable path for the other CPUs (and for other compilers and architectures,
// where NNET2_HAVE_AVX512 is not defined). NNET2_NO_AVX512=1 in the environment selects those paths here too.
#pragma once

#include <cstdlib>

#include "common/common.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__CUDACC__)
#define NNET2_HAVE_AVX512 1
// GCC 12 warns inside its own AVX-512 shuffle intrinsics (their _mm512_undefined_ps operand; GCC bug 105593).
// Left ignored for the rest of the including file: the warning is only ever about those intrinsics there.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#define NNET2_AVX512 __attribute__((target("avx512f,fma")))

namespace nnet2 {

// True on a CPU with AVX-512F and FMA, unless the environment sets NNET2_NO_AVX512 (to anything but "" or "0"):
// that runs the portable paths on such a CPU too, for tests and for comparing the two (checked once, at the
// first call).
inline bool Avx512Available() {
  static const bool ok = [] {
    const char *off = std::getenv("NNET2_NO_AVX512");
    if (off != nullptr && off[0] != '\0' && !(off[0] == '0' && off[1] == '\0')) return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }();
  return ok;
}

// The first min(left, 16) lanes.
inline __mmask16 TailMask(index_t left) {
  return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

// In-register transpose of 16 rows of 16 floats: out[k] = (r[0][k], ..., r[15][k]).
NNET2_AVX512 inline void Transpose16(const __m512 r[16], __m512 out[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // per 128-bit lane: a0 b0 a1 b1
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);  // a2 b2 a3 b3
  }
  for (int i = 0; i < 4; i++) {  // per lane: rows 4i..4i+3 of column j of the lane
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int j = 0; j < 4; j++) {  // gather lane L of the four row groups: column 4L + j
    const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v2 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 v4 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    out[j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    out[8 + j] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    out[4 + j] = _mm512_shuffle_f32x4(v2, v4, 0x88);
    out[12 + j] = _mm512_shuffle_f32x4(v2, v4, 0xDD);
  }
}

}  // namespace nnet2

#endif  // NNET2_HAVE_AVX512
