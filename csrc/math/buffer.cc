#include "math/buffer.h"

#include <cstdlib>
#include <utility>

#include "common/device.h"
#include "cuda/cuda_math_ops.h"

namespace nnet2 {

void DeviceBuffer::Reserve(index_t n, Device dev) {
  if (n <= capacity_ && dev == dev_ && data_ != nullptr) return;
  Release();
  const index_t bytes = sizeof(float) * (n > 0 ? n : 1);
  if (dev == Device::kCuda) {
    NNET2_ON_GPU(data_ = static_cast<float *>(cuda::Malloc(bytes)));
  } else {
    // 64-byte alignment keeps the BLAS kernels on their aligned paths.
    data_ = static_cast<float *>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    NNET2_CHECK(data_ != nullptr, "DeviceBuffer: out of host memory allocating " << bytes << " bytes");
  }
  capacity_ = n;
  dev_ = dev;
}

void DeviceBuffer::Release() {
  if (data_ != nullptr) {
    if (dev_ == Device::kCuda) {
#ifdef NNET2_WITH_CUDA
      cuda::Free(data_);  // never throws: a destructor may call this
#endif
    } else {
      std::free(data_);
    }
  }
  data_ = nullptr;
  capacity_ = 0;
}

void DeviceBuffer::Swap(DeviceBuffer &o) noexcept {
  std::swap(data_, o.data_);
  std::swap(capacity_, o.capacity_);
  std::swap(dev_, o.dev_);
}

MatView DeviceBuffer::Mat(index_t rows, index_t cols, index_t offset) const {
  NNET2_CHECK(offset + rows * cols <= capacity_, "DeviceBuffer: view of " << rows << "x" << cols << " at "
                                                    << offset << " exceeds capacity " << capacity_);
  return MatView(data_ + offset, rows, cols, cols, dev_);
}

VecView DeviceBuffer::Vec(index_t dim, index_t offset) const {
  NNET2_CHECK(offset + dim <= capacity_, "DeviceBuffer: vector of " << dim << " at " << offset
                                             << " exceeds capacity " << capacity_);
  return VecView(data_ + offset, dim, dev_);
}

}  // namespace nnet2
