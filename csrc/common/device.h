// The one place (with device.cc and csrc/math) that knows whether CUDA was compiled in (style rule 2).
// Algorithm code calls NNET2_ON_GPU(cuda::Fn(...)) for device arrays; in a CPU-only build that throws
// "built without CUDA" instead of failing to link.
#pragma once

#include "common/common.h"

#ifdef NNET2_WITH_CUDA
#define NNET2_ON_GPU(call) \
  do {                     \
    call;                  \
  } while (0)
#else
#define NNET2_ON_GPU(call)                                                                   \
  throw ::nnet2::Error(                                                                      \
      "nnet2 was built without CUDA: cannot operate on a GPU array (rebuild with "          \
      "NNET2_WITH_CUDA=ON on a machine with nvcc and cuBLAS)")
#endif

namespace nnet2 {
// Blocks until queued GPU work is done (no-op in CPU builds); call before handing memory to MPI.
void DeviceSynchronize();
}  // namespace nnet2
