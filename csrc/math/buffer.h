// Owning float32 storage on the CPU or a CUDA device, for scratch matrices and state that lives next to
// the data it is used with (e.g. the NG-SGD basis W_t). Grows on demand and never shrinks, so a
// steady-state training loop does no allocation.
#pragma once

#include "math/matrix.h"

namespace nnet2 {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Release(); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  DeviceBuffer(DeviceBuffer &&o) noexcept { Swap(o); }
  DeviceBuffer &operator=(DeviceBuffer &&o) noexcept {
    Swap(o);
    return *this;
  }

  // Makes room for n floats on dev (contents are lost if it reallocates: moving to another device or growing).
  void Reserve(index_t n, Device dev);
  void Release();
  void Swap(DeviceBuffer &o) noexcept;

  float *data() const { return data_; }
  Device dev() const { return dev_; }
  index_t capacity() const { return capacity_; }
  // A contiguous rows x cols matrix starting offset floats into the buffer (Reserve'd beforehand).
  MatView Mat(index_t rows, index_t cols, index_t offset = 0) const;
  VecView Vec(index_t dim, index_t offset = 0) const;

 private:
  float *data_ = nullptr;
  index_t capacity_ = 0;
  Device dev_ = Device::kCpu;
};

}  // namespace nnet2
