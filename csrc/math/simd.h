// Run-time ISA dispatch for the element-wise CPU loops.
//
// The core is built for baseline x86-64 (SSE2) so one wheel runs everywhere, which leaves the
// element-wise loops (sigmoid, softmax, p-norm, ...) at 4 floats per instruction on machines that have
// AVX2/AVX-512. NNET2_SIMD_CLONES makes GCC compile a function once per ISA level and pick the best
// one when the module loads (target_clones). Put it on small row functions, not on functions that
// contain an OpenMP region (the outlined region would not be cloned). The clones compute the same
// formulas; only the order of a vectorized sum may differ between ISA levels.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define NNET2_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NNET2_SIMD_CLONES
#endif
