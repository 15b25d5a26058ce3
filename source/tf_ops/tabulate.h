// The tables of a compressed model (dpt compress) as the TensorFlow ops read them: the interval
// lookup, Horner's rule for a value or a derivative, and the checks of the operands that every
// table op shares (DptTabEval in tab_eval.cc, DptTabContract in tab_contract.cc).
//
// The definition is dptensor/model/tabulate.py (tab_eval); these helpers compute the same numbers
// in the same precision. A table has nint = n1 + n2 intervals: n1 of width h1 from lo to
// hi = lo + n1 h1, then n2 of width h2 up to end = hi + n2 h2; on interval k, with t the offset
// of s from its left end, G(s) = sum_p coef[k, p] t^p (coef: nint x 6 x M). The interval is the
// truncation of (s - lo) / h1 below hi and of n1 + (s - hi) / h2 above, clamped to [0, nint - 1];
// s is clamped to [lo, end] for t, so the table holds its end values outside, where every
// derivative is 0.

#ifndef DPTENSOR_TF_OPS_TABULATE_H_
#define DPTENSOR_TF_OPS_TABULATE_H_

#include <cmath>
#include <cstdint>
#include <string>

#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/errors.h"

namespace dptensor {

constexpr int kDegree = 5;
constexpr int kTerms = kDegree + 1;

// p! / (p - r)!: the factor of t^(p - r) in the r-th derivative of t^p
constexpr double Falling(int p, int r) { return r == 0 ? 1.0 : p * Falling(p - 1, r - 1); }

// The R-th derivative at offset t of column j of one interval's coefficients c (6 x m), the terms
// added in the reference's order (highest power first). Inlined into loops over j, which vectorize.
template <typename T, int R>
inline T Horner(const T* c, int64_t m, int64_t j, T t) {
  if constexpr (R > kDegree) {
    return T(0);
  } else {
    T acc = c[kDegree * m + j] * T(Falling(kDegree, R));
    for (int p = kDegree - 1; p >= R; --p) acc = acc * t + c[p * m + j] * T(Falling(p, R));
    return acc;
  }
}

// The grid in the table's precision: bounds computed in double (as the reference does in Python)
// and then rounded to T.
template <typename T>
struct Grid {
  T lo, h1, hi, h2, end;
  int64_t n1, nint;

  // grid (lo, h1, n1, h2, n2) of a table with nint intervals, already checked (GridProblem)
  static Grid Make(const double* g, int64_t nint) {
    const int64_t n1 = static_cast<int64_t>(g[2]);
    const double hi = g[0] + double(n1) * g[1];
    const double end = hi + g[4] * g[3];
    return Grid{T(g[0]), T(g[1]), T(hi), T(g[3]), T(end), n1, nint};
  }

  // whether derivatives are nonzero at s (NaN counts as inside, so that it reaches the output)
  bool Inside(T s) const { return !(s < lo || s > end); }

  // interval of s and the offset t of clamped s from its left end
  void Locate(T s, int64_t* k, T* t) const {
    T pos = s < hi ? (s - lo) / h1 : T(n1) + (s - hi) / h2;
    // clamp before truncating (no overflow for huge s; NaN picks interval 0)
    pos = pos > T(0) ? pos : T(0);
    pos = pos < T(nint - 1) ? pos : T(nint - 1);
    *k = static_cast<int64_t>(pos);
    const T kf = T(*k);
    const T left = *k < n1 ? lo + kf * h1 : hi + (kf - T(n1)) * h2;
    const T clamped = s > end ? end : s < lo ? lo : s;
    *t = clamped - left;
  }
};

// grid (lo, h1, n1, h2, n2) checked against nint intervals; an error message or empty
inline std::string GridProblem(const double* g, int64_t nint) {
  const double n1 = g[2], n2 = g[4];
  if (!(n1 >= 0 && n2 >= 0 && n1 == std::floor(n1) && n2 == std::floor(n2)))
    return "n1 and n2 must be integers >= 0";
  if (n1 + n2 != double(nint)) return "n1 + n2 must equal the number of intervals of coef";
  if (!(g[1] > 0) || (n2 > 0 && !(g[3] > 0))) return "interval widths h1 and h2 must be > 0";
  if (!std::isfinite(g[0])) return "lo must be finite";
  return "";
}

// coef (nint x 6 x M, nint >= 1) and grid (5 float64 numbers that fit it), or an InvalidArgument
// error that names the op
inline tensorflow::Status CheckTable(const char* op, const tensorflow::Tensor& coef,
                                     const tensorflow::Tensor& grid) {
  namespace errors = tensorflow::errors;
  if (!(coef.dims() == 3 && coef.dim_size(1) == kTerms && coef.dim_size(0) > 0))
    return errors::InvalidArgument(op, ": coef must be nint x 6 x M with nint >= 1, got ",
                                   coef.shape().DebugString());
  if (!(grid.dims() == 1 && grid.dim_size(0) == 5))
    return errors::InvalidArgument(op, ": grid must hold 5 numbers (lo, h1, n1, h2, n2), got ",
                                   grid.shape().DebugString());
  const double* g = grid.flat<double>().data();
  const std::string problem = GridProblem(g, coef.dim_size(0));
  if (!problem.empty())
    return errors::InvalidArgument(op, ": bad grid (", g[0], ", ", g[1], ", ", g[2], ", ", g[3],
                                   ", ", g[4], ") for coef ", coef.shape().DebugString(), ": ",
                                   problem);
  return tensorflow::OkStatus();
}

}  // namespace dptensor

#endif  // DPTENSOR_TF_OPS_TABULATE_H_
