// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers:
// as easy as 1, 2, 3", SC'11). A pure function of (key, counter), so the CPU loops and the CUDA kernels
// produce the same stream for the same (seed, offset) with no generator state to carry or share, and a
// run is reproducible whatever the thread count.
//
// Stream convention used throughout nnet2: element number i of the stream for `seed` is lane (i & 3) of
// Philox4x32-10(counter = {lo32(i >> 2), hi32(i >> 2), 0, 0}, key = {lo32(seed), hi32(seed)}).
#pragma once

#include <cstdint>

#include "common/common.h"

namespace nnet2 {
namespace rng {

struct U32x4 {
  std::uint32_t v[4];
};

NNET2_HD void MulHiLo32(std::uint32_t a, std::uint32_t b, std::uint32_t *hi, std::uint32_t *lo) {
  const std::uint64_t p = (std::uint64_t)a * (std::uint64_t)b;
  *hi = (std::uint32_t)(p >> 32);
  *lo = (std::uint32_t)p;
}

// One Philox4x32 round: two 32x32->64 multiplies, the high halves xor-ed with the other words and the key.
NNET2_HD void PhiloxRound(std::uint32_t *c, std::uint32_t k0, std::uint32_t k1) {
  std::uint32_t hi0, lo0, hi1, lo1;
  MulHiLo32(0xD2511F53u, c[0], &hi0, &lo0);
  MulHiLo32(0xCD9E8D57u, c[2], &hi1, &lo1);
  const std::uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// Philox4x32 with 10 rounds; the key is bumped by the Weyl constants between rounds.
NNET2_HD U32x4 Philox4x32_10(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                             std::uint32_t k0, std::uint32_t k1) {
  U32x4 r;
  r.v[0] = c0;
  r.v[1] = c1;
  r.v[2] = c2;
  r.v[3] = c3;
  for (int i = 0; i < 10; i++) {
    if (i > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    PhiloxRound(r.v, k0, k1);
  }
  return r;
}

// The block holding stream elements 4j .. 4j+3.
NNET2_HD U32x4 StreamBlock(std::uint64_t seed, std::uint64_t j) {
  return Philox4x32_10((std::uint32_t)j, (std::uint32_t)(j >> 32), 0u, 0u, (std::uint32_t)seed,
                       (std::uint32_t)(seed >> 32));
}

// Top 24 bits -> a float in [0, 1) that is exact in float32 (never rounds up to 1.0).
NNET2_HD float ToUniform(std::uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

// Element i of the stream as a uniform in [0, 1) (computes the whole block: use StreamBlock in loops).
NNET2_HD float UniformAt(std::uint64_t seed, std::uint64_t i) {
  return ToUniform(StreamBlock(seed, i >> 2).v[i & 3]);
}

}  // namespace rng
}  // namespace nnet2
