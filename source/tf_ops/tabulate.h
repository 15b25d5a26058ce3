// The checks of a compressed model's table operands that every TensorFlow table op shares
// (DptTabEval in tab_eval.cc, DptTabContract in tab_contract.cc). The table math (grid, interval
// lookup, Horner's rule) is ../common/tabulate_core.h, shared with the PyTorch ops.

#ifndef DPTENSOR_TF_OPS_TABULATE_H_
#define DPTENSOR_TF_OPS_TABULATE_H_

#include <cmath>
#include <cstdint>
#include <string>

#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/errors.h"

#include "../common/tabulate_core.h"

namespace dptensor {

// The grid of a table of nint intervals from its grid operand (lo, h1, n1, h2, n2), already
// checked (CheckTable)
template <typename T>
tabulate::Grid<T> GridOf(const tensorflow::Tensor& grid, int64_t nint) {
  const double* g = grid.flat<double>().data();
  return tabulate::make_grid<T>(g[0], g[1], static_cast<int64_t>(g[2]), g[3], nint);
}

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
  if (!(coef.dims() == 3 && coef.dim_size(1) == tabulate::kTerms && coef.dim_size(0) > 0))
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
