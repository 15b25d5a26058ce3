// The table math of a compressed model (dpt compress), once for every framework: the grid, the
// interval lookup, Horner's rule for a value or a derivative, and value and slope in one pass.
// No framework headers: pt_ops/tabulate.h and tf_ops/tabulate.h include this and add only the
// checks of their operands (TORCH_CHECK, tensorflow::Status).
//
// The definition is dptensor/model/tabulate.py (tab_eval); these functions compute the same
// numbers with the same operations in the table's precision T. A table has nint = n1 + n2
// intervals: n1 of width h1 from lo to hi = lo + n1 h1, then n2 of width h2 up to
// end = hi + n2 h2; on interval k, with t the offset of s from its left end x_k,
// G(s) = sum_p coef[k, p] t^p (coef: nint x 6 x M). The interval is the truncation of
// (s - lo) / h1 below hi and of n1 + (s - hi) / h2 above, clamped to [0, nint - 1]; s is clamped
// to [lo, end] for t, so the table holds its end values outside, where every derivative is 0.

#pragma once

#include <cstdint>

namespace dptensor {
namespace tabulate {

constexpr int kDegree = 5;
constexpr int kTerms = kDegree + 1;  // coefficient rows of an interval

// p! / (p - r)!: the factor of t^(p - r) in the r-th derivative of t^p
constexpr double falling(int p, int r) { return r == 0 ? 1.0 : p * falling(p - 1, r - 1); }

template <typename T>
struct Grid {
  T lo, h1, h2, hi, end;
  int64_t n1, nint;
};

// The grid of a table of nint intervals, n1 of them of width h1: hi and end in double, then
// rounded to T, as the Python definition does
template <typename T>
Grid<T> make_grid(double lo, double h1, int64_t n1, double h2, int64_t nint) {
  const double hi = lo + static_cast<double>(n1) * h1;
  const double end = hi + static_cast<double>(nint - n1) * h2;
  return {static_cast<T>(lo), static_cast<T>(h1), static_cast<T>(h2), static_cast<T>(hi),
          static_cast<T>(end), n1, nint};
}

// Interval k of s (returned) and the offset *t of clamped s from its left end
template <typename T>
inline int64_t locate(const Grid<T>& g, T s, T* t) {
  T pos = s < g.hi ? (s - g.lo) / g.h1 : static_cast<T>(g.n1) + (s - g.hi) / g.h2;
  // clamp before truncating (no overflow for huge s; NaN picks interval 0)
  pos = pos > T(0) ? pos : T(0);
  pos = pos < static_cast<T>(g.nint - 1) ? pos : static_cast<T>(g.nint - 1);
  const int64_t k = static_cast<int64_t>(pos);
  const T kf = static_cast<T>(k);
  const T left = k < g.n1 ? g.lo + kf * g.h1 : g.hi + (kf - static_cast<T>(g.n1)) * g.h2;
  const T clamped = s > g.end ? g.end : (s < g.lo ? g.lo : s);
  *t = clamped - left;
  return k;
}

// Whether s is where the derivatives of the table are its polynomials' (else they are 0); NaN
// counts as inside, so that it reaches the output as in the definition
template <typename T>
inline bool inside(const Grid<T>& g, T s) {
  return !(s < g.lo || s > g.end);
}

// The R-th derivative at offset t of column j of one interval's coefficients c (6 x m):
// sum_{p >= R} falling(p, R) c[p][j] t^(p - R) by Horner's rule, highest power first as in the
// definition. Inlined into loops over j, which vectorize.
template <typename T, int R>
inline T horner(const T* c, int64_t m, int64_t j, T t) {
  if constexpr (R > kDegree) {
    return T(0);
  } else {
    T acc = c[kDegree * m + j] * static_cast<T>(falling(kDegree, R));
    for (int p = kDegree - 1; p >= R; --p) {  // constant trip count: unrolled
      acc = acc * t + c[p * m + j] * static_cast<T>(falling(p, R));
    }
    return acc;
  }
}

// Value and first derivative in t together, by Horner's rule with synthetic division (9
// multiply-adds, where horner<T, 0> and horner<T, 1> take 5 and 9)
template <typename T>
inline void value_slope(const T* c, int64_t m, int64_t j, T t, T* value, T* slope) {
  T v = c[kDegree * m + j], d = v;
  v = v * t + c[(kDegree - 1) * m + j];
  for (int p = kDegree - 2; p >= 0; --p) {  // constant trip count: unrolled
    d = d * t + v;
    v = v * t + c[p * m + j];
  }
  *value = v, *slope = d;
}

}  // namespace tabulate
}  // namespace dptensor
