// Declarations of the CUDA launchers (definitions in csrc/cuda/*.cu, compiled only in CUDA builds).
// No CUDA types here, so CPU-only translation units can include this header.
#pragma once

#include <cstdint>
#include <string>

#include "math/matrix.h"

namespace nnet2 {
namespace cuda {

// ---- execution context (csrc/cuda/context.cu) ----------------------------------------------------
// Every launcher, copy and cuBLAS call of a thread runs on that thread's current stream on the current
// device. The stream is 0 (the default stream) unless a StreamScope is open; the Python boundary opens
// one per call and feeds it the stream each array names in __cuda_array_interface__ (CuPy's current
// stream: a non-blocking stream, the per-thread default stream, ...), so our work is ordered with the
// caller's. Values follow the CUDA Array Interface: 1 = legacy default stream, 2 = per-thread default
// stream, anything else a cudaStream_t.
class StreamScope {
 public:
  StreamScope();
  ~StreamScope();
  StreamScope(const StreamScope &) = delete;
  StreamScope &operator=(const StreamScope &) = delete;
  // The first stream named becomes current; a later, different one is made to complete first (the
  // current stream waits on an event recorded on it).
  void Use(std::uintptr_t stream);

 private:
  std::uintptr_t prev_stream_;
  bool prev_chosen_;
};
std::uintptr_t CurrentStream();
// Throws (naming `name`) unless p is device (or managed) memory of the current device. p == nullptr passes.
void CheckDevicePointer(const void *p, const char *name);
// Waits for the current stream (not the whole device).
void SynchronizeStream();

void Synchronize();  // the whole current device
// Loads cuBLAS (as the first GEMM does; needs no GPU) and returns the file it came from; throws the
// one-line "install the GPU extra" error when it cannot be found.
std::string CublasLibraryPath();
void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C);
// b = alpha * (column sums of A) + beta * b (b := beta * b when A has no rows; beta == 0 ignores b).
void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b);

// Component kernels (mirroring csrc/nnet/kernels.cc).
void CopyRowsFromVec(const VecView &b, const MatView &y);
void Sigmoid(const MatView &x, const MatView &y);
void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx);
void Tanh(const MatView &x, const MatView &y);
void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx);
void PnormForward(const MatView &x, float p, const MatView &y);
void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx);
void NormalizeForward(const MatView &x, const MatView &y);
void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx);
void SoftmaxForward(const MatView &x, const MatView &y);
// Objective sum_i log y[i, label_i] and number of correct rows (reduced on the device in float64).
// Throws naming the first row whose label is outside [0, z.cols).
void SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz,
                         double *objf, double *num_correct);
void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y);
void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y);
void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx);
// A device int32 vector copied to the host (for the checks the CPU path makes on its contents).
void CopyIntsToHost(const IntVecView &v, std::int32_t *host);

}  // namespace cuda
}  // namespace nnet2
