// DptTabEval: a tabulated embedding net (dpt compress) and its derivatives in s, as a TensorFlow op.
//
//   coef   nint x 6 x M   quintic coefficients of each interval (float32 or float64)
//   s      n              the nets' scalar input (same dtype)
//   grid   5 (float64)    lo, h1, n1, h2, n2: n1 intervals h1 wide from lo to hi = lo + n1 h1, then
//                         n2 intervals h2 wide up to end = hi + n2 h2 (nint = n1 + n2)
//   order  attr >= 0      which derivative
//   out    n x M          d^order/ds^order of sum_p coef[k, p] t^p, t = s - (left end of interval k)
//
// The definition is dptensor/model/tabulate.py (tab_eval); this kernel computes the same numbers
// in the same precision, with the interval lookup and Horner's rule of common/tabulate_core.h: the
// table holds its end values outside [lo, end], and every derivative (order >= 1) is 0 there. The
// grid is an input rather than attrs because TensorFlow's float attrs are 32-bit, and a float64
// table needs its knots in float64 (for a float32 table the grid is rounded to float32, as in the
// reference). The gradient in s (registered in Python, backends/dptensor_tf/native.py) is the
// same op with order + 1, so forces and Hessians differentiate through it.
//
// Each row of s picks one interval; its 6 x M coefficients are read once, contiguously, and the
// inner loop over M (Horner's rule, unrolled at compile time for each order) vectorizes. Rows are
// shared out over TensorFlow's intra-op threads.
//
// Built at run time by backends/dptensor_tf/native.py with TensorFlow's compile flags.

#include <cstdint>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"
#include "tabulate.h"

namespace dptensor {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
namespace errors = tensorflow::errors;
namespace shape_inference = tensorflow::shape_inference;
using tabulate::Grid;
using tabulate::horner;
using tabulate::kDegree;
using tabulate::kTerms;

REGISTER_OP("DptTabEval")
    .Input("coef: T")
    .Input("s: T")
    .Input("grid: double")
    .Output("out: T")
    .Attr("T: {float, double}")
    .Attr("order: int >= 0 = 0")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle coef, s, grid;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &coef));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 1, &s));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 1, &grid));
      shape_inference::DimensionHandle unused;
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(coef, 1), kTerms, &unused));
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(grid, 0), 5, &unused));
      c->set_output(0, c->MakeShape({c->Dim(s, 0), c->Dim(coef, 2)}));
      return tensorflow::OkStatus();
    });

// out[j] = the R-th derivative at t of column j, for the M columns of one row
template <typename T, int R>
void HornerRow(const T* c, int64_t m, T t, T* out) {
#pragma omp simd
  for (int64_t j = 0; j < m; ++j) out[j] = horner<T, R>(c, m, j, t);
}

template <typename T>
using RowFn = void (*)(const T*, int64_t, T, T*);

template <typename T>
RowFn<T> RowFor(int64_t order) {
  switch (order) {
    case 0: return HornerRow<T, 0>;
    case 1: return HornerRow<T, 1>;
    case 2: return HornerRow<T, 2>;
    case 3: return HornerRow<T, 3>;
    case 4: return HornerRow<T, 4>;
    case 5: return HornerRow<T, 5>;
    default: return HornerRow<T, kDegree + 1>;
  }
}

template <typename T>
class TabEvalOp : public OpKernel {
 public:
  explicit TabEvalOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("order", &order_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& tcoef = ctx->input(0);
    const Tensor& ts = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckTable("DptTabEval", tcoef, ctx->input(2)));
    OP_REQUIRES(ctx, ts.dims() == 1,
                errors::InvalidArgument("DptTabEval: s must be 1-D, got ", ts.shape().DebugString()));
    const int64_t nint = tcoef.dim_size(0), m = tcoef.dim_size(2), n = ts.dim_size(0);
    Tensor* tout = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({n, m}), &tout));
    if (tout->NumElements() == 0) return;
    Run(GridOf<T>(ctx->input(2), nint), tcoef.flat<T>().data(), ts.flat<T>().data(), n, m,
        tout->flat<T>().data(), ctx);
  }

 private:
  void Run(const Grid<T> grid, const T* coef, const T* s, int64_t n, int64_t m, T* out,
           OpKernelContext* ctx) const {
    const RowFn<T> row = RowFor<T>(order_);
    const bool derivative = order_ > 0;
    auto work = [=](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        T* o = out + i * m;
        if (derivative && !tabulate::inside(grid, s[i])) {
          for (int64_t j = 0; j < m; ++j) o[j] = T(0);
          continue;
        }
        T t;
        const int64_t k = tabulate::locate(grid, s[i], &t);
        row(coef + k * kTerms * m, m, t, o);
      }
    };
    // per row: a multiply-add per coefficient used, plus reading them and writing the row
    const int64_t terms = order_ > kDegree ? 0 : kTerms - order_;
    const int64_t cost = 2 * terms * m + terms * m + m + 20;
    auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    tensorflow::Shard(workers->NumThreads(), workers, n, cost, work);
  }

  int64_t order_;
};

REGISTER_KERNEL_BUILDER(
    Name("DptTabEval").Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"), TabEvalOp<float>);
REGISTER_KERNEL_BUILDER(
    Name("DptTabEval").Device(tensorflow::DEVICE_CPU).TypeConstraint<double>("T"), TabEvalOp<double>);

}  // namespace dptensor
