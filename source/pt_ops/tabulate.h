// The table lookup shared by the dptensor PyTorch ops on tabulated embedding nets (tab_eval.cc,
// tab_contract.cc): which interval of the grid holds s, Horner's rule on its six coefficient rows,
// and the checks of a table's operands. The definition is dptensor/model/tabulate.py: interval k
// of s (width h1 for the first n1 intervals from lo, h2 for the other nint - n1 up to end),
// t = clamp(s, lo, end) - x_k, value = sum_p coef[k, p] t^p; outside [lo, end] every derivative
// is 0.

#pragma once

#include <algorithm>
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace dptensor {
namespace tabulate {

constexpr int kDegree = 5;
constexpr int64_t kGrainValues = 32768;  // values per task at least (ATen's usual grain)

// p! / (p - r)!: the factor of t^(p - r) in the r-th derivative of t^p
constexpr double falling(int p, int r) {
  double f = 1.0;
  for (int q = p - r + 1; q <= p; ++q) f *= q;
  return f;
}

template <typename T>
struct Grid {
  T lo, h1, h2, hi, end;
  int64_t n1, nint;
};

template <typename T>
Grid<T> make_grid(double lo, double h1, int64_t n1, double h2, int64_t nint) {
  // hi and end in double, then rounded to T, as the Python definition does
  const double hi = lo + static_cast<double>(n1) * h1;
  const double end = hi + static_cast<double>(nint - n1) * h2;
  return {static_cast<T>(lo), static_cast<T>(h1), static_cast<T>(h2), static_cast<T>(hi),
          static_cast<T>(end), n1, nint};
}

// Interval k and offset t of s, as tabulate.tab_eval computes them (same operations, in T)
template <typename T>
inline int64_t locate(const Grid<T>& g, T s, T* t) {
  T pos = s < g.hi ? (s - g.lo) / g.h1 : static_cast<T>(g.n1) + (s - g.hi) / g.h2;
  // pos > 0 is false for NaN too; compare before the cast (a huge pos would overflow int64)
  int64_t k = pos > 0 ? (pos < static_cast<T>(g.nint) ? static_cast<int64_t>(pos) : g.nint) : 0;
  k = std::min(k, g.nint - 1);
  T kf = static_cast<T>(k);
  T left = k < g.n1 ? g.lo + kf * g.h1 : g.hi + (kf - static_cast<T>(g.n1)) * g.h2;
  T clamped = s > g.end ? g.end : (s < g.lo ? g.lo : s);
  *t = clamped - left;
  return k;
}

// Whether s is where the derivatives of the table are its polynomials' (else they are 0); NaN
// counts as inside, so that it reaches the output as in the definition
template <typename T>
inline bool inside(const Grid<T>& g, T s) {
  return !(s < g.lo || s > g.end);
}

// sum_{p >= R} falling(p, R) c[p][j] t^(p - R) by Horner's rule (c: the 6 x M rows of interval k)
template <typename T, int R>
inline T poly(const T* c, int64_t m, int64_t j, T t) {
  T acc = c[kDegree * m + j] * static_cast<T>(falling(kDegree, R));
  for (int p = kDegree - 1; p >= R; --p) {  // constant trip count: unrolled
    acc = acc * t + c[p * m + j] * static_cast<T>(falling(p, R));
  }
  return acc;
}

// value and first derivative in t together, by Horner's rule on both (9 multiply-adds, where
// poly<T, 0> and poly<T, 1> take 5 and 9)
template <typename T>
inline void poly_slope(const T* c, int64_t m, int64_t j, T t, T* value, T* slope) {
  T v = c[kDegree * m + j], d = v;
  v = v * t + c[(kDegree - 1) * m + j];
  for (int p = kDegree - 2; p >= 0; --p) {  // constant trip count: unrolled
    d = d * t + v;
    v = v * t + c[p * m + j];
  }
  *value = v, *slope = d;
}

// The table and grid of op ``op``: coef nint x 6 x M (CPU float32/float64), 0 <= n1 <= nint,
// positive widths (h2 only when there are wide intervals)
inline void check_table(const char* op, const at::Tensor& coef, double h1, int64_t n1, double h2) {
  TORCH_CHECK(coef.dim() == 3 && coef.size(1) == kDegree + 1,
              "dptensor::", op, ": coef must be nint x 6 x M, got shape ", coef.sizes());
  TORCH_CHECK(coef.scalar_type() == at::kFloat || coef.scalar_type() == at::kDouble,
              "dptensor::", op, ": float32 or float64 tensors only, got ", coef.scalar_type());
  TORCH_CHECK(coef.device().is_cpu(), "dptensor::", op, ": CPU tensors only, got ", coef.device());
  TORCH_CHECK(coef.size(0) >= 1 && n1 >= 0 && n1 <= coef.size(0),
              "dptensor::", op, ": need 0 <= n1 <= nint and nint >= 1, got n1 = ", n1,
              ", nint = ", coef.size(0));
  TORCH_CHECK(h1 > 0 && (h2 > 0 || n1 == coef.size(0)),
              "dptensor::", op, ": interval widths must be positive, got h1 = ", h1, ", h2 = ", h2);
}

// An operand ``name`` of op ``op``: coef's dtype, on the CPU
inline void check_operand(const char* op, const char* name, const at::Tensor& x,
                          const at::Tensor& coef) {
  TORCH_CHECK(x.scalar_type() == coef.scalar_type(), "dptensor::", op, ": coef and ", name,
              " must have one dtype, got ", coef.scalar_type(), " and ", x.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "dptensor::", op, ": CPU tensors only, got ", x.device(),
              " for ", name);
}

}  // namespace tabulate
}  // namespace dptensor
