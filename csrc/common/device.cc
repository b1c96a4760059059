#include "common/device.h"

#ifdef NNET2_WITH_CUDA
namespace nnet2 {
namespace cuda {
void Synchronize();
}
}  // namespace nnet2
#endif

namespace nnet2 {

bool CudaCompiled() {
#ifdef NNET2_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void DeviceSynchronize() {
#ifdef NNET2_WITH_CUDA
  cuda::Synchronize();
#endif
}

}  // namespace nnet2
