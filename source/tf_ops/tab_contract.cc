// DptTabContract: the se_e2_a descriptor's R~^T G with the embedding G read from a compressed
// model's table (dpt compress), fused so that G is never held in memory; and its gradient.
//
//   coef   nint x 6 x M   quintic coefficients of each interval (float32 or float64)
//   s      B x w          the nets' scalar input, per atom b and neighbor slot j (same dtype)
//   r      B x w x 4      the rows of R~ (same dtype)
//   grid   5 (float64)    lo, h1, n1, h2, n2, as for DptTabEval (tab_eval.cc)
//   out    B x 4 x M      out[b, d, m] = sum_j r[b, j, d] G_m(s[b, j])
//
// DptTabContractGrad(coef, s, r, grid, grad: B x 4 x M) -> (grad_s: B x w, grad_r: B x w x 4):
//   grad_s[b, j]    = sum_m G'_m(s[b, j]) sum_d r[b, j, d] grad[b, d, m]
//   grad_r[b, j, d] = sum_m G_m(s[b, j]) grad[b, d, m]
//
// The definition is dptensor/model/tabulate.py (tab_contract: tab_eval, then a product); G and G'
// are those of DptTabEval (the lookup and Horner's rule of common/tabulate_core.h: end values
// held outside [lo, end], G' = 0 there). The gradients are registered in Python
// (backends/dptensor_tf/native.py): DptTabContractGrad's own is written with DptTabEval and
// products, so that nested tapes (force training, Hessians) differentiate through it.
//
// Per atom, the 4 x M output (or the 4 x M incoming gradient) stays in cache while the slots run
// through it: each slot picks one interval, whose 6 x M coefficients are read once, and a single
// vectorized loop over M evaluates G (and G') and adds its contribution; the forward pass takes
// two slots per loop, which halves its loads and stores of out. What the loops cost is cut where
// the numbers allow:
//   - a run of slots with one s (the empty slots at the end of a block) is one slot, with its rows
//     of r summed (forward), or with grad_r shared and grad_s = r . (sum_m G' grad) (backward);
//   - a slot whose row of r is zero (the other center types' slots when each type pair has its
//     own table) adds nothing to out and to grad_s, and is skipped there, unless s is NaN (which
//     reaches the output as in the definition).
// Sums are taken in another order than the definition's, so results agree to round-off. On a
// 192-atom water frame (138 slots, M = 100, float64) forward and backward take about 3 ms on one
// core, against 16 for DptTabEval and TensorFlow's batched products. Atoms are shared out over
// TensorFlow's intra-op threads.
//
// Built at run time by backends/dptensor_tf/native.py with TensorFlow's compile flags.

#include <cmath>
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
using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;
using tabulate::Grid;
using tabulate::horner;
using tabulate::kDegree;
using tabulate::kTerms;

constexpr int kColumns = 4;  // columns of R~

// coef, s, r and grid of either op: ranks, fixed sizes, and B and w of s and r merged
tensorflow::Status ContractShapes(InferenceContext* c, DimensionHandle* b, DimensionHandle* w,
                                  DimensionHandle* m) {
  ShapeHandle coef, s, r, grid;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &coef));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 2, &s));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 3, &r));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 1, &grid));
  DimensionHandle unused;
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(coef, 1), kTerms, &unused));
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(r, 2), kColumns, &unused));
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(grid, 0), 5, &unused));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(s, 0), c->Dim(r, 0), b));
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(s, 1), c->Dim(r, 1), w));
  *m = c->Dim(coef, 2);
  return tensorflow::OkStatus();
}

REGISTER_OP("DptTabContract")
    .Input("coef: T")
    .Input("s: T")
    .Input("r: T")
    .Input("grid: double")
    .Output("out: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      DimensionHandle b, w, m;
      TF_RETURN_IF_ERROR(ContractShapes(c, &b, &w, &m));
      c->set_output(0, c->MakeShape({b, kColumns, m}));
      return tensorflow::OkStatus();
    });

REGISTER_OP("DptTabContractGrad")
    .Input("coef: T")
    .Input("s: T")
    .Input("r: T")
    .Input("grid: double")
    .Input("grad: T")
    .Output("grad_s: T")
    .Output("grad_r: T")
    .Attr("T: {float, double}")
    .SetShapeFn([](InferenceContext* c) {
      DimensionHandle b, w, m, unused;
      TF_RETURN_IF_ERROR(ContractShapes(c, &b, &w, &m));
      ShapeHandle grad;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(4), 3, &grad));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(grad, 0), b, &b));
      TF_RETURN_IF_ERROR(c->WithValue(c->Dim(grad, 1), kColumns, &unused));
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(grad, 2), m, &unused));
      c->set_output(0, c->MakeShape({b, w}));
      c->set_output(1, c->MakeShape({b, w, kColumns}));
      return tensorflow::OkStatus();
    });

// Whether a slot with row rj of r adds nothing to out and to grad_s (not so for NaN s).
template <typename T>
inline bool ZeroRow(const T* rj, T s) {
  return rj[0] == T(0) && rj[1] == T(0) && rj[2] == T(0) && rj[3] == T(0) && !std::isnan(s);
}

// The end of the run of slots from j on that share s[j] (the empty slots at the end of a block);
// a NaN run is one slot long.
template <typename T>
inline int64_t RunEnd(const T* s, int64_t j, int64_t w) {
  int64_t end = j + 1;
  while (end < w && s[end] == s[j]) ++end;
  return end;
}

// one term of out: the interval's coefficients c, the offset t, and the (summed) row of r
template <typename T>
struct Term {
  const T* c;
  T t, r[kColumns];
};

// out (4 x m) += x.r^T G(x)
template <typename T>
void AddOne(const Term<T>& x, int64_t m, T* out) {
  T *o0 = out, *o1 = out + m, *o2 = out + 2 * m, *o3 = out + 3 * m;
  const T* c = x.c;
  const T t = x.t, r0 = x.r[0], r1 = x.r[1], r2 = x.r[2], r3 = x.r[3];
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) {
    const T g = horner<T, 0>(c, m, i, t);
    o0[i] += r0 * g, o1[i] += r1 * g, o2[i] += r2 * g, o3[i] += r3 * g;
  }
}

// two terms in one pass over out (half its loads and stores)
template <typename T>
void AddTwo(const Term<T>& x, const Term<T>& y, int64_t m, T* out) {
  T *o0 = out, *o1 = out + m, *o2 = out + 2 * m, *o3 = out + 3 * m;
  const T *c = x.c, *e = y.c;
  const T t = x.t, r0 = x.r[0], r1 = x.r[1], r2 = x.r[2], r3 = x.r[3];
  const T v = y.t, q0 = y.r[0], q1 = y.r[1], q2 = y.r[2], q3 = y.r[3];
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) {
    const T g = horner<T, 0>(c, m, i, t), h = horner<T, 0>(e, m, i, v);
    o0[i] += r0 * g + q0 * h, o1[i] += r1 * g + q1 * h;
    o2[i] += r2 * g + q2 * h, o3[i] += r3 * g + q3 * h;
  }
}

// out (4 x m) = sum_j r[j]^T G(s[j]) over the w slots of one atom, by runs of one s, two at a time
template <typename T>
void ContractAtom(const Grid<T>& grid, const T* coef, int64_t m, const T* s, const T* r, int64_t w,
                  T* out) {
  for (int64_t i = 0; i < kColumns * m; ++i) out[i] = T(0);
  Term<T> pending[2];
  int n = 0;
  for (int64_t j = 0, end; j < w; j = end) {
    end = RunEnd(s, j, w);
    Term<T>& x = pending[n];
    x.r[0] = x.r[1] = x.r[2] = x.r[3] = T(0);
    bool zero = true;
    for (int64_t i = j; i < end; ++i) {
      const T* ri = r + kColumns * i;
      for (int d = 0; d < kColumns; ++d) x.r[d] += ri[d];
      zero = zero && ZeroRow(ri, s[i]);
    }
    if (zero) continue;
    x.c = coef + tabulate::locate(grid, s[j], &x.t) * kTerms * m;
    if (++n == 2) AddTwo(pending[0], pending[1], m, out), n = 0;
  }
  if (n == 1) AddOne(pending[0], m, out);
}

// a[d] = sum_m G_m u[d, m] and, with `slope`, b[d] = sum_m G'_m u[d, m], at s in interval c,
// offset t (G and G' together by Horner's rule with synthetic division)
template <typename T>
void ProjectSlot(const T* c, int64_t m, T t, const T* u, bool slope, T* a, T* b) {
  const T *u0 = u, *u1 = u + m, *u2 = u + 2 * m, *u3 = u + 3 * m;
  T a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  if (slope) {
#pragma omp simd reduction(+ : a0, a1, a2, a3, b0, b1, b2, b3)
    for (int64_t i = 0; i < m; ++i) {
      T g, dg;
      tabulate::value_slope(c, m, i, t, &g, &dg);
      a0 += g * u0[i], a1 += g * u1[i], a2 += g * u2[i], a3 += g * u3[i];
      b0 += dg * u0[i], b1 += dg * u1[i], b2 += dg * u2[i], b3 += dg * u3[i];
    }
  } else {
#pragma omp simd reduction(+ : a0, a1, a2, a3)
    for (int64_t i = 0; i < m; ++i) {
      const T g = horner<T, 0>(c, m, i, t);
      a0 += g * u0[i], a1 += g * u1[i], a2 += g * u2[i], a3 += g * u3[i];
    }
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
  b[0] = b0, b[1] = b1, b[2] = b2, b[3] = b3;
}

// grad_s (w) and grad_r (w x 4) of one atom from its incoming gradient u (4 x m):
// grad_r[j, d] = a[d] and grad_s[j] = sum_d r[j, d] b[d] (ProjectSlot), once per run of one s
template <typename T>
void GradAtom(const Grid<T>& grid, const T* coef, int64_t m, const T* s, const T* r, int64_t w,
              const T* u, T* grad_s, T* grad_r) {
  for (int64_t j = 0, end; j < w; j = end) {
    end = RunEnd(s, j, w);
    bool zero = true;
    for (int64_t i = j; i < end; ++i) zero = zero && ZeroRow(r + kColumns * i, s[i]);
    T t, a[kColumns], b[kColumns];
    const int64_t k = tabulate::locate(grid, s[j], &t);
    // G' is 0 outside the table
    ProjectSlot(coef + k * kTerms * m, m, t, u, tabulate::inside(grid, s[j]) && !zero, a, b);
    for (int64_t i = j; i < end; ++i) {
      const T* ri = r + kColumns * i;
      grad_s[i] = ri[0] * b[0] + ri[1] * b[1] + ri[2] * b[2] + ri[3] * b[3];
      for (int d = 0; d < kColumns; ++d) grad_r[kColumns * i + d] = a[d];
    }
  }
}

// the operands of either op (coef, s, r, grid), or an InvalidArgument error that names the op
tensorflow::Status CheckOperands(const char* op, OpKernelContext* ctx) {
  TF_RETURN_IF_ERROR(CheckTable(op, ctx->input(0), ctx->input(3)));
  const Tensor &s = ctx->input(1), &r = ctx->input(2);
  if (s.dims() != 2)
    return errors::InvalidArgument(op, ": s must be B x w (atoms x neighbor slots), got ",
                                   s.shape().DebugString());
  if (!(r.dims() == 3 && r.dim_size(0) == s.dim_size(0) && r.dim_size(1) == s.dim_size(1) &&
        r.dim_size(2) == kColumns))
    return errors::InvalidArgument(op, ": r must be B x w x 4 with s B x w, got r ",
                                   r.shape().DebugString(), " and s ", s.shape().DebugString());
  return tensorflow::OkStatus();
}

// fn(first, last) over the atoms [0, n), each costing about `cost` cycles, on the intra-op threads
template <typename Fn>
void ShardAtoms(OpKernelContext* ctx, int64_t n, int64_t cost, Fn fn) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  tensorflow::Shard(workers->NumThreads(), workers, n, cost, fn);
}

template <typename T>
class TabContractOp : public OpKernel {
 public:
  explicit TabContractOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckOperands("DptTabContract", ctx));
    const Tensor &tcoef = ctx->input(0), &ts = ctx->input(1);
    const int64_t nb = ts.dim_size(0), w = ts.dim_size(1), m = tcoef.dim_size(2);
    Tensor* tout = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({nb, kColumns, m}), &tout));
    if (tout->NumElements() == 0) return;
    const auto grid = GridOf<T>(ctx->input(3), tcoef.dim_size(0));
    const T *coef = tcoef.flat<T>().data(), *s = ts.flat<T>().data();
    const T* r = ctx->input(2).flat<T>().data();
    T* out = tout->flat<T>().data();
    // per slot and column of M: Horner's 5 multiply-adds, 4 more into out, 6 coefficients read
    ShardAtoms(ctx, nb, w * (m * 16 + 30), [=](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b)
        ContractAtom(grid, coef, m, s + b * w, r + b * w * kColumns, w, out + b * kColumns * m);
    });
  }
};

template <typename T>
class TabContractGradOp : public OpKernel {
 public:
  explicit TabContractGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    OP_REQUIRES_OK(ctx, CheckOperands("DptTabContractGrad", ctx));
    const Tensor &tcoef = ctx->input(0), &ts = ctx->input(1), &tgrad = ctx->input(4);
    const int64_t nb = ts.dim_size(0), w = ts.dim_size(1), m = tcoef.dim_size(2);
    OP_REQUIRES(ctx, tgrad.shape() == TensorShape({nb, kColumns, m}),
                errors::InvalidArgument("DptTabContractGrad: grad must be B x 4 x M = ",
                                        TensorShape({nb, kColumns, m}).DebugString(), ", got ",
                                        tgrad.shape().DebugString()));
    Tensor *tgs = nullptr, *tgr = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, ts.shape(), &tgs));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, ctx->input(2).shape(), &tgr));
    if (tgs->NumElements() == 0) return;
    const auto grid = GridOf<T>(ctx->input(3), tcoef.dim_size(0));
    const T *coef = tcoef.flat<T>().data(), *s = ts.flat<T>().data();
    const T* r = ctx->input(2).flat<T>().data();
    const T* grad = tgrad.flat<T>().data();
    T *gs = tgs->flat<T>().data(), *gr = tgr->flat<T>().data();
    // per slot and column of M: G and G' (9 multiply-adds), 8 more into the sums, 10 reads
    ShardAtoms(ctx, nb, w * (m * 30 + 40), [=](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b)
        GradAtom(grid, coef, m, s + b * w, r + b * w * kColumns, w, grad + b * kColumns * m,
                 gs + b * w, gr + b * w * kColumns);
    });
  }
};

#define DPT_REGISTER(NAME, OP)                                                                  \
  REGISTER_KERNEL_BUILDER(                                                                      \
      Name(NAME).Device(tensorflow::DEVICE_CPU).TypeConstraint<float>("T"), OP<float>);         \
  REGISTER_KERNEL_BUILDER(                                                                      \
      Name(NAME).Device(tensorflow::DEVICE_CPU).TypeConstraint<double>("T"), OP<double>);

DPT_REGISTER("DptTabContract", TabContractOp)
DPT_REGISTER("DptTabContractGrad", TabContractGradOp)
#undef DPT_REGISTER

}  // namespace dptensor
