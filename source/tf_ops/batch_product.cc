// DptBatchProduct: batched float32/float64 matrix products for the descriptor's thin
// contractions, as a TensorFlow op.
//
//   mode "nn":  out[b] = a[b]   y[b]     a: B x n x k,  y: B x k x m  ->  B x n x m
//   mode "tn":  out[b] = a[b]^T y[b]     a: B x n x k,  y: B x n x m  ->  B x k x m
//   mode "nt":  out[b] = a[b]   y[b]^T   a: B x n x m,  y: B x k x m  ->  B x n x k
//
// The se_e2_a contraction R~^T G (per atom, 4 x nnei by nnei x M1) and its derivatives are
// products of this kind with one side of width 4. TensorFlow's float64 BatchMatMulV2 (Eigen's
// general contraction, blocked and packed for large operands) runs them at 1-2 GFLOP/s on small
// batches; the loops below read each operand once, in memory order, with the innermost loop over
// a contiguous row, and the batches are shared out over TensorFlow's intra-op threads. The set
// {nn, tn, nt} is closed under differentiation, so the gradients (registered in Python, see
// backends/dptensor_tf/native.py) are products of the same op and can be differentiated again.
//
// Built at run time by backends/dptensor_tf/native.py with TensorFlow's compile flags.

#include <cstdint>
#include <string>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace dptensor {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
namespace errors = tensorflow::errors;
namespace shape_inference = tensorflow::shape_inference;

enum class Mode { kNN, kTN, kNT };

REGISTER_OP("DptBatchProduct")
    .Input("a: T")
    .Input("y: T")
    .Output("out: T")
    .Attr("T: {float, double}")
    .Attr("mode: {'nn', 'tn', 'nt'}")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      std::string mode;
      TF_RETURN_IF_ERROR(c->GetAttr("mode", &mode));
      shape_inference::ShapeHandle a, y;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &a));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 3, &y));
      auto batch = c->Dim(a, 0);
      if (mode == "nn") {
        c->set_output(0, c->MakeShape({batch, c->Dim(a, 1), c->Dim(y, 2)}));
      } else if (mode == "tn") {
        c->set_output(0, c->MakeShape({batch, c->Dim(a, 2), c->Dim(y, 2)}));
      } else {
        c->set_output(0, c->MakeShape({batch, c->Dim(a, 1), c->Dim(y, 1)}));
      }
      return tensorflow::OkStatus();
    });

// out (n x m) = a (n x k) y (k x m)
template <typename T>
void ProductNN(const T* a, const T* y, T* out, int64_t n, int64_t k, int64_t m) {
  for (int64_t r = 0; r < n; ++r) {
    T* o = out + r * m;
    for (int64_t j = 0; j < m; ++j) o[j] = T(0);
    for (int64_t i = 0; i < k; ++i) {
      const T s = a[r * k + i];
      const T* yi = y + i * m;
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) o[j] += s * yi[j];
    }
  }
}

// out (k x m) = a (n x k)^T y (n x m)
template <typename T>
void ProductTN(const T* a, const T* y, T* out, int64_t n, int64_t k, int64_t m) {
  for (int64_t j = 0; j < k * m; ++j) out[j] = T(0);
  for (int64_t r = 0; r < n; ++r) {
    const T* yr = y + r * m;
    for (int64_t i = 0; i < k; ++i) {
      const T s = a[r * k + i];
      T* o = out + i * m;
#pragma omp simd
      for (int64_t j = 0; j < m; ++j) o[j] += s * yr[j];
    }
  }
}

// out (n x k) = a (n x m) y (k x m)^T
template <typename T>
void ProductNT(const T* a, const T* y, T* out, int64_t n, int64_t k, int64_t m) {
  for (int64_t r = 0; r < n; ++r) {
    const T* ar = a + r * m;
    for (int64_t i = 0; i < k; ++i) {
      const T* yi = y + i * m;
      T s = T(0);
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < m; ++j) s += ar[j] * yi[j];
      out[r * k + i] = s;
    }
  }
}

template <typename T>
class BatchProductOp : public OpKernel {
 public:
  explicit BatchProductOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string mode;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("mode", &mode));
    mode_ = mode == "nn" ? Mode::kNN : mode == "tn" ? Mode::kTN : Mode::kNT;
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& ta = ctx->input(0);
    const Tensor& ty = ctx->input(1);
    OP_REQUIRES(ctx, ta.dims() == 3 && ty.dims() == 3,
                errors::InvalidArgument("DptBatchProduct: operands of rank 3 expected, got ",
                                        ta.shape().DebugString(), " and ", ty.shape().DebugString()));
    const int64_t batch = ta.dim_size(0);
    const int64_t a1 = ta.dim_size(1), a2 = ta.dim_size(2);
    const int64_t y1 = ty.dim_size(1), y2 = ty.dim_size(2);
    const bool inner_ok = mode_ == Mode::kNN ? a2 == y1 : mode_ == Mode::kTN ? a1 == y1 : a2 == y2;
    OP_REQUIRES(ctx, ty.dim_size(0) == batch && inner_ok,
                errors::InvalidArgument("DptBatchProduct: shapes ", ta.shape().DebugString(), " and ",
                                        ty.shape().DebugString(), " do not fit"));
    const int64_t o1 = mode_ == Mode::kTN ? a2 : a1;
    const int64_t o2 = mode_ == Mode::kNT ? y1 : y2;
    Tensor* tout = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({batch, o1, o2}), &tout));
    if (tout->NumElements() == 0) return;
    const T* a = ta.flat<T>().data();
    const T* y = ty.flat<T>().data();
    T* out = tout->flat<T>().data();
    const Mode mode = mode_;
    auto work = [=](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        const T* ab = a + b * a1 * a2;
        const T* yb = y + b * y1 * y2;
        T* ob = out + b * o1 * o2;
        if (mode == Mode::kNN) {
          ProductNN(ab, yb, ob, a1, a2, y2);
        } else if (mode == Mode::kTN) {
          ProductTN(ab, yb, ob, a1, a2, y2);
        } else {
          ProductNT(ab, yb, ob, a1, y1, a2);
        }
      }
    };
    // cost per batch: multiply-adds plus the memory traffic, in TensorFlow's cost units
    const int64_t macs = mode_ == Mode::kNT ? a1 * y1 * a2 : a1 * a2 * y2;
    const int64_t cost = 2 * macs + a1 * a2 + y1 * y2 + o1 * o2;
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    tensorflow::Shard(workers->NumThreads(), workers, batch, cost, work);
  }

 private:
  Mode mode_;
};

REGISTER_KERNEL_BUILDER(
    Name("DptBatchProduct").Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"),
    BatchProductOp<float>);
REGISTER_KERNEL_BUILDER(
    Name("DptBatchProduct").Device(tensorflow::DEVICE_CPU).TypeConstraint<double>("T"),
    BatchProductOp<double>);

}  // namespace dptensor
