// Common types and error handling for the nnet2 core (no Python, no MPI here).
//
// float32 to compute, float64 to accumulate (style rule 7). Errors throw nnet2::Error with a message
// that names what was wrong; the Python boundary turns them into ValueError/RuntimeError.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace nnet2 {

using BaseFloat = float;
using index_t = std::int64_t;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

enum class Device { kCpu = 0, kCuda = 1 };

inline const char *DeviceName(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

// True when this build includes the CUDA kernels (decided once, in csrc/common/device.cc).
bool CudaCompiled();

}  // namespace nnet2

#define NNET2_CHECK(cond, msg)                                          \
  do {                                                                  \
    if (!(cond)) {                                                      \
      std::ostringstream nnet2_check_os_;                               \
      nnet2_check_os_ << msg;                                           \
      throw ::nnet2::Error(nnet2_check_os_.str());                      \
    }                                                                   \
  } while (0)

// Small math written once and called by both the CPU loops and the CUDA kernels (style rule 3).
#if defined(__CUDACC__)
#define NNET2_HD __host__ __device__ __forceinline__
#else
#define NNET2_HD inline
#endif
