// The checks of a table's operands for the dptensor PyTorch ops on tabulated embedding nets
// (tab_eval.cc, tab_contract.cc); the table math (grid, interval lookup, Horner's rule) is
// ../common/tabulate_core.h, shared with the TensorFlow ops.

#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "../common/tabulate_core.h"

namespace dptensor {
namespace tabulate {

// values per task at least (ATen's usual grain)
constexpr int64_t kGrainValues = 32768;

// The table and grid of op ``op``: coef nint x 6 x M (CPU float32/float64), 0 <= n1 <= nint,
// positive widths (h2 only when there are wide intervals)
inline void check_table(const char* op, const at::Tensor& coef, double h1, int64_t n1, double h2) {
  TORCH_CHECK(coef.dim() == 3 && coef.size(1) == kTerms,
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
