// dptensor::tab_eval: a tabulated embedding net (``dpt compress``) and its derivatives in s, as
// PyTorch ops (CPU, float and double).
//
//   tab_eval(coef nint x 6 x M, s n, lo, h1, n1, h2, order)            -> out n x M
//   tab_eval_vjp(coef nint x 6 x M, s n, grad n x M, lo, h1, n1, h2, order) -> out n
//
// The definition is dptensor/model/tabulate.py ``tab_eval``: interval k of s (width h1 for the
// first n1 intervals from lo, h2 for the other nint - n1 up to end), t = clamp(s, lo, end) - x_k,
// and out = d^r/dt^r sum_p coef[k, p] t^p, r = order; outside [lo, end] every derivative is 0.
// ``tab_eval_vjp`` is sum_j grad[:, j] * tab_eval(...)[:, j] without the n x M intermediate: the
// gradient in s of tab_eval(order) is tab_eval_vjp(order + 1), and the derivatives of
// tab_eval_vjp are again these two ops (autograd in backends/dptensor_pt/native.py), so forces,
// force training and Hessians never leave them.
//
// The generic code gathers an n x 6 x M copy of the coefficients; here each row reads the 6 rows
// of coef[k] in place (the table stays in cache) and runs Horner's rule along M, a contiguous
// loop the compiler vectorizes (the lookup and Horner's rule are common/tabulate_core.h's, shared
// with tab_contract.cc and the TensorFlow ops). Rows are shared out over ATen's intra-op threads.
// Built at first use by backends/dptensor_pt/native.py, and into libdptensor_api_cc by CMake
// (frozen compressed models call these ops).

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "tabulate.h"

namespace dptensor {
namespace {

using tabulate::Grid;
using tabulate::kDegree;
using tabulate::kTerms;
using tabulate::kGrainValues;
using tabulate::locate;
using tabulate::make_grid;
using tabulate::horner;

// Operands of one call; R > kDegree never reaches the loops (the result is 0)
template <typename T>
struct Args {
  const T* coef;
  const T* s;
  const T* grad;  // vjp only
  T* out;
  Grid<T> g;
  int64_t m;
};

template <typename T, int R>
void value_rows(const Args<T>& a, int64_t begin, int64_t end) {
  const int64_t m = a.m;
  for (int64_t i = begin; i < end; ++i) {
    T t;
    const T* c = a.coef + locate(a.g, a.s[i], &t) * kTerms * m;
    T* row = a.out + i * m;
    if (R > 0 && !tabulate::inside(a.g, a.s[i])) {  // held constant outside the table
      std::fill(row, row + m, T(0));
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < m; ++j) row[j] = horner<T, R>(c, m, j, t);
  }
}

template <typename T, int R>
void vjp_rows(const Args<T>& a, int64_t begin, int64_t end) {
  const int64_t m = a.m;
  for (int64_t i = begin; i < end; ++i) {
    T t;
    const T* c = a.coef + locate(a.g, a.s[i], &t) * kTerms * m;
    const T* grad = a.grad + i * m;
    T sum = 0;
    if (R == 0 || tabulate::inside(a.g, a.s[i])) {
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < m; ++j) sum += grad[j] * horner<T, R>(c, m, j, t);
    }
    a.out[i] = sum;
  }
}

// f(std::integral_constant<int, order>) for order 0 .. kDegree (the loops need it at compile time)
template <typename F>
void with_order(int64_t order, const F& f) {
  switch (order) {
    case 0: f(std::integral_constant<int, 0>{}); break;
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    default: f(std::integral_constant<int, 5>{}); break;
  }
}

template <typename T>
void run(const at::Tensor& coef, const at::Tensor& s, const at::Tensor* grad, at::Tensor& out,
         double lo, double h1, int64_t n1, double h2, int64_t order) {
  const int64_t n = s.size(0), m = coef.size(2);
  const Args<T> a{coef.const_data_ptr<T>(), s.const_data_ptr<T>(),
                  grad ? grad->const_data_ptr<T>() : nullptr, out.mutable_data_ptr<T>(),
                  make_grid<T>(lo, h1, n1, h2, coef.size(0)), m};
  const int64_t grain = std::max<int64_t>(1, kGrainValues / std::max<int64_t>(m, 1));
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
    with_order(order, [&](auto r) {
      if (grad) {
        vjp_rows<T, decltype(r)::value>(a, begin, end);
      } else {
        value_rows<T, decltype(r)::value>(a, begin, end);
      }
    });
  });
}

void check(const at::Tensor& coef, const at::Tensor& s, double h1, int64_t n1, double h2,
           int64_t order) {
  tabulate::check_table("tab_eval", coef, h1, n1, h2);
  TORCH_CHECK(s.dim() == 1, "dptensor::tab_eval: s must be 1-D, got shape ", s.sizes());
  tabulate::check_operand("tab_eval", "s", s, coef);
  TORCH_CHECK(order >= 0, "dptensor::tab_eval: order must be >= 0, got ", order);
}

// out (n x M, or n with grad) of checked operands
at::Tensor evaluate(const at::Tensor& coef_in, const at::Tensor& s_in, const at::Tensor* grad_in,
                    double lo, double h1, int64_t n1, double h2, int64_t order) {
  const at::Tensor coef = coef_in.contiguous(), s = s_in.contiguous();
  const int64_t n = s.size(0), m = coef.size(2);
  at::Tensor out = grad_in ? at::empty({n}, s.options()) : at::empty({n, m}, s.options());
  if (order > kDegree) {
    return out.zero_();
  }
  const at::Tensor grad = grad_in ? grad_in->contiguous() : at::Tensor();
  const at::Tensor* g = grad_in ? &grad : nullptr;
  if (s.scalar_type() == at::kDouble) {
    run<double>(coef, s, g, out, lo, h1, n1, h2, order);
  } else {
    run<float>(coef, s, g, out, lo, h1, n1, h2, order);
  }
  return out;
}

at::Tensor tab_eval_cpu(const at::Tensor& coef, const at::Tensor& s, double lo, double h1,
                        int64_t n1, double h2, int64_t order) {
  check(coef, s, h1, n1, h2, order);
  return evaluate(coef, s, nullptr, lo, h1, n1, h2, order);
}

at::Tensor tab_eval_vjp_cpu(const at::Tensor& coef, const at::Tensor& s, const at::Tensor& grad,
                            double lo, double h1, int64_t n1, double h2, int64_t order) {
  check(coef, s, h1, n1, h2, order);
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == s.size(0) && grad.size(1) == coef.size(-1),
              "dptensor::tab_eval_vjp: grad must be n x M (", s.size(0), " x ", coef.size(-1),
              "), got shape ", grad.sizes());
  tabulate::check_operand("tab_eval_vjp", "grad", grad, coef);
  return evaluate(coef, s, &grad, lo, h1, n1, h2, order);
}

}  // namespace

// A fragment: other dptensor kernels may add ops to the namespace from their own files.
TORCH_LIBRARY_FRAGMENT(dptensor, m) {
  m.def("tab_eval(Tensor coef, Tensor s, float lo, float h1, int n1, float h2, int order) -> Tensor");
  m.def("tab_eval_vjp(Tensor coef, Tensor s, Tensor grad, float lo, float h1, int n1, float h2, "
        "int order) -> Tensor");
}

TORCH_LIBRARY_IMPL(dptensor, CPU, m) {
  m.impl("tab_eval", &tab_eval_cpu);
  m.impl("tab_eval_vjp", &tab_eval_vjp_cpu);
}

}  // namespace dptensor
