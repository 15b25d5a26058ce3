// dptensor::tab_contract: the descriptor's R~^T G with G read from a tabulated embedding net
// (``dpt compress``), fused, and its gradient, as PyTorch ops (CPU, float and double).
//
//   tab_contract(coef nint x 6 x M, s B x w, r B x w x 4, lo, h1, n1, h2)        -> out B x 4 x M
//       out[b, d, m] = sum_j r[b, j, d] G_m(s[b, j])
//   tab_contract_grad(coef, s, r, grad B x 4 x M, lo, h1, n1, h2)  -> (grad_s B x w, grad_r B x w x 4)
//       grad_s[b, j] = sum_m G'_m(s[b, j]) sum_d r[b, j, d] grad[b, d, m]
//       grad_r[b, j, d] = sum_m G_m(s[b, j]) grad[b, d, m]
//
// G is tab_eval of order 0 and G' of order 1 (common/tabulate_core.h; the definition is tabulate.py
// ``tab_contract``). The generic code writes G (B w x M, as large as the descriptor's input times
// M) and runs thin batched products on it; here G never leaves registers: per center b, each
// slot runs Horner's rule along M (the vector loop) in the loop that adds its products to the
// 4 x M block of b, which stays in L1. The forward pass adds four slots per pass over the block
// (the loop is bound by its loads and stores); the gradient evaluates G and G' by one Horner
// recursion. Slots that share s share G: the empty slots of a type block, about a third of all
// in dense systems, have one s and one row of r, so the forward pass sums their rows of r first
// and the gradient reuses the sums over M of the previous slot. A slot with a zero row of r adds
// nothing (the table's values are finite). Centers are shared out over ATen's intra-op threads.
// Built with tab_eval.cc by backends/dptensor_pt/native.py and into libdptensor_api_cc by CMake.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "tabulate.h"

namespace dptensor {
namespace {

using tabulate::horner;
using tabulate::kTerms;

constexpr int kDims = 4;  // columns of r: s and its three Cartesian partners

template <typename T>
struct Operands {
  const T* coef;
  const T* s;     // B x w
  const T* r;     // B x w x 4
  const T* grad;  // B x 4 x M (gradient only)
  tabulate::Grid<T> g;
  int64_t w, m;
};

template <typename T>
inline bool zero_row(const T* r) {
  return r[0] == T(0) && r[1] == T(0) && r[2] == T(0) && r[3] == T(0);
}

// Slots of one s: its table rows coef[k], offset t, and the sum of their rows of r
template <typename T>
struct Slot {
  const T* c;
  T s, t, r0, r1, r2, r3;
};

// The slots of center b -> their count: a run of slots with one s is one Slot with the sum of
// their rows of r (out is linear in r); slots with a zero row of r are left out.
template <typename T>
int64_t gather_slots(const Operands<T>& a, int64_t b, Slot<T>* out) {
  int64_t n = 0;
  for (int64_t j = b * a.w; j < (b + 1) * a.w; ++j) {
    const T* rj = a.r + j * kDims;
    if (zero_row(rj) && !std::isnan(a.s[j])) continue;  // NaN * 0 is NaN in the definition
    if (n > 0 && out[n - 1].s == a.s[j]) {
      Slot<T>& last = out[n - 1];
      last.r0 += rj[0], last.r1 += rj[1], last.r2 += rj[2], last.r3 += rj[3];
      continue;
    }
    T t;
    const T* c = a.coef + tabulate::locate(a.g, a.s[j], &t) * kTerms * a.m;
    out[n++] = {c, a.s[j], t, rj[0], rj[1], rj[2], rj[3]};
  }
  return n;
}

// out (4 x M) += the terms of one slot
template <typename T>
void add_slot(const Slot<T>& sa, int64_t m, T* out) {
  const T* ca = sa.c;
  const T ta = sa.t, a0 = sa.r0, a1 = sa.r1, a2 = sa.r2, a3 = sa.r3;
  T *o0 = out, *o1 = out + m, *o2 = out + 2 * m, *o3 = out + 3 * m;
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) {
    const T va = horner<T, 0>(ca, m, i, ta);
    o0[i] += a0 * va;
    o1[i] += a1 * va;
    o2[i] += a2 * va;
    o3[i] += a3 * va;
  }
}

// out (4 x M) += the terms of four slots: one load and store of out for four slots' sums (the
// loop is bound by loads and stores, not by arithmetic)
template <typename T>
void add_four_slots(const Slot<T>* sl, int64_t m, T* out) {
  const T *ca = sl[0].c, *cb = sl[1].c, *cc = sl[2].c, *cd = sl[3].c;
  const T ta = sl[0].t, tb = sl[1].t, tc = sl[2].t, td = sl[3].t;
  const T a0 = sl[0].r0, a1 = sl[0].r1, a2 = sl[0].r2, a3 = sl[0].r3;
  const T b0 = sl[1].r0, b1 = sl[1].r1, b2 = sl[1].r2, b3 = sl[1].r3;
  const T c0 = sl[2].r0, c1 = sl[2].r1, c2 = sl[2].r2, c3 = sl[2].r3;
  const T d0 = sl[3].r0, d1 = sl[3].r1, d2 = sl[3].r2, d3 = sl[3].r3;
  T *o0 = out, *o1 = out + m, *o2 = out + 2 * m, *o3 = out + 3 * m;
#pragma omp simd
  for (int64_t i = 0; i < m; ++i) {
    const T va = horner<T, 0>(ca, m, i, ta), vb = horner<T, 0>(cb, m, i, tb);
    const T vc = horner<T, 0>(cc, m, i, tc), vd = horner<T, 0>(cd, m, i, td);
    o0[i] += a0 * va + b0 * vb + c0 * vc + d0 * vd;
    o1[i] += a1 * va + b1 * vb + c1 * vc + d1 * vd;
    o2[i] += a2 * va + b2 * vb + c2 * vc + d2 * vd;
    o3[i] += a3 * va + b3 * vb + c3 * vc + d3 * vd;
  }
}

// out (4 x M) of center b; slots: room for w
template <typename T>
void contract_center(const Operands<T>& a, int64_t b, Slot<T>* slots, T* out) {
  const int64_t n = gather_slots(a, b, slots);
  std::fill(out, out + kDims * a.m, T(0));
  int64_t q = 0;
  for (; q + 4 <= n; q += 4) add_four_slots(slots + q, a.m, out);
  for (; q < n; ++q) add_slot(slots[q], a.m, out);
}

// What the gradients of a slot need from its s: gr_d = sum_m G_m grad_dm (its grad_r) and
// gs_d = sum_m G'_m grad_dm (grad_s = r . gs); slots with the same s share them
template <typename T>
struct SlotSums {
  T s;
  bool valid = false, with_gs = false;
  T gr[kDims], gs[kDims];
};

// gr (and gs when WithGs) of s at offset t in the rows c of its interval
template <typename T, bool WithGs>
void slot_sums(const T* c, int64_t m, T t, const T* grad, SlotSums<T>* out) {
  const T *g0 = grad, *g1 = grad + m, *g2 = grad + 2 * m, *g3 = grad + 3 * m;
  T a0 = 0, a1 = 0, a2 = 0, a3 = 0, d0 = 0, d1 = 0, d2 = 0, d3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, d0, d1, d2, d3)
  for (int64_t i = 0; i < m; ++i) {
    T v, dv;
    if (WithGs) {
      tabulate::value_slope(c, m, i, t, &v, &dv);
      d0 += dv * g0[i], d1 += dv * g1[i], d2 += dv * g2[i], d3 += dv * g3[i];
    } else {
      v = horner<T, 0>(c, m, i, t);
    }
    a0 += v * g0[i], a1 += v * g1[i], a2 += v * g2[i], a3 += v * g3[i];
  }
  out->gr[0] = a0, out->gr[1] = a1, out->gr[2] = a2, out->gr[3] = a3;
  out->gs[0] = d0, out->gs[1] = d1, out->gs[2] = d2, out->gs[3] = d3;
}

// sums (of s, with gs when needed) computed unless they are already those of s; G' is 0 outside
// the table, and not needed for a zero row of r
template <typename T>
void update_sums(const Operands<T>& a, T s, bool need_gs, const T* grad, SlotSums<T>* sums) {
  if (sums->valid && sums->s == s && (sums->with_gs || !need_gs)) return;
  T t;
  const T* c = a.coef + tabulate::locate(a.g, s, &t) * kTerms * a.m;
  const bool with_gs = need_gs && tabulate::inside(a.g, s);
  if (with_gs) {
    slot_sums<T, true>(c, a.m, t, grad, sums);
  } else {
    slot_sums<T, false>(c, a.m, t, grad, sums);
  }
  sums->s = s, sums->valid = true, sums->with_gs = with_gs || !tabulate::inside(a.g, s);
}

// grad_s (w) and grad_r (w x 4) of center b
template <typename T>
void grad_center(const Operands<T>& a, int64_t b, T* grad_s, T* grad_r) {
  const T* grad = a.grad + b * kDims * a.m;
  SlotSums<T> sums;
  for (int64_t j = b * a.w; j < (b + 1) * a.w; ++j) {
    const T* rj = a.r + j * kDims;
    const bool need_gs = !zero_row(rj) || std::isnan(a.s[j]);
    update_sums(a, a.s[j], need_gs, grad, &sums);
    std::copy(sums.gr, sums.gr + kDims, grad_r + j * kDims);
    grad_s[j] = need_gs ? rj[0] * sums.gs[0] + rj[1] * sums.gs[1] + rj[2] * sums.gs[2] +
                              rj[3] * sums.gs[3]
                        : T(0);
  }
}

template <typename T>
Operands<T> operands(const at::Tensor& coef, const at::Tensor& s, const at::Tensor& r,
                     const at::Tensor* grad, double lo, double h1, int64_t n1, double h2) {
  return {coef.const_data_ptr<T>(), s.const_data_ptr<T>(), r.const_data_ptr<T>(),
          grad ? grad->const_data_ptr<T>() : nullptr,
          tabulate::make_grid<T>(lo, h1, n1, h2, coef.size(0)), s.size(1), coef.size(2)};
}

// f(begin, end) over the centers, in tasks of at least kGrainValues slot values
template <typename F>
void for_centers(int64_t n, int64_t w, int64_t m, const F& f) {
  const int64_t grain = std::max<int64_t>(1, tabulate::kGrainValues / std::max<int64_t>(w * m, 1));
  at::parallel_for(0, n, grain, f);
}

void check(const char* op, const at::Tensor& coef, const at::Tensor& s, const at::Tensor& r,
           double h1, int64_t n1, double h2) {
  tabulate::check_table(op, coef, h1, n1, h2);
  TORCH_CHECK(s.dim() == 2, "dptensor::", op, ": s must be B x w, got shape ", s.sizes());
  TORCH_CHECK(r.dim() == 3 && r.size(0) == s.size(0) && r.size(1) == s.size(1) && r.size(2) == kDims,
              "dptensor::", op, ": r must be B x w x 4 (", s.size(0), " x ", s.size(1),
              " x 4), got shape ", r.sizes());
  tabulate::check_operand(op, "s", s, coef);
  tabulate::check_operand(op, "r", r, coef);
}

at::Tensor tab_contract_cpu(const at::Tensor& coef_in, const at::Tensor& s_in,
                            const at::Tensor& r_in, double lo, double h1, int64_t n1, double h2) {
  check("tab_contract", coef_in, s_in, r_in, h1, n1, h2);
  const at::Tensor coef = coef_in.contiguous(), s = s_in.contiguous(), r = r_in.contiguous();
  const int64_t n = s.size(0), w = s.size(1), m = coef.size(2);
  at::Tensor out = at::empty({n, kDims, m}, s.options());
  AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "tab_contract", [&] {
    const auto a = operands<scalar_t>(coef, s, r, nullptr, lo, h1, n1, h2);
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    for_centers(n, w, m, [&](int64_t begin, int64_t end) {
      std::vector<Slot<scalar_t>> slots(w);
      for (int64_t b = begin; b < end; ++b) contract_center(a, b, slots.data(), o + b * kDims * m);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> tab_contract_grad_cpu(
    const at::Tensor& coef_in, const at::Tensor& s_in, const at::Tensor& r_in,
    const at::Tensor& grad_in, double lo, double h1, int64_t n1, double h2) {
  check("tab_contract_grad", coef_in, s_in, r_in, h1, n1, h2);
  TORCH_CHECK(grad_in.dim() == 3 && grad_in.size(0) == s_in.size(0) && grad_in.size(1) == kDims &&
                  grad_in.size(2) == coef_in.size(2),
              "dptensor::tab_contract_grad: grad must be B x 4 x M (", s_in.size(0), " x 4 x ",
              coef_in.size(2), "), got shape ", grad_in.sizes());
  tabulate::check_operand("tab_contract_grad", "grad", grad_in, coef_in);
  const at::Tensor coef = coef_in.contiguous(), s = s_in.contiguous(), r = r_in.contiguous();
  const at::Tensor grad = grad_in.contiguous();
  const int64_t n = s.size(0), w = s.size(1), m = coef.size(2);
  at::Tensor grad_s = at::empty({n, w}, s.options()), grad_r = at::empty({n, w, kDims}, s.options());
  AT_DISPATCH_FLOATING_TYPES(s.scalar_type(), "tab_contract_grad", [&] {
    const auto a = operands<scalar_t>(coef, s, r, &grad, lo, h1, n1, h2);
    scalar_t* gs = grad_s.mutable_data_ptr<scalar_t>();
    scalar_t* gr = grad_r.mutable_data_ptr<scalar_t>();
    for_centers(n, w, m, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) grad_center(a, b, gs, gr);
    });
  });
  return {grad_s, grad_r};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(dptensor, m) {
  m.def("tab_contract(Tensor coef, Tensor s, Tensor r, float lo, float h1, int n1, float h2) "
        "-> Tensor");
  m.def("tab_contract_grad(Tensor coef, Tensor s, Tensor r, Tensor grad, float lo, float h1, "
        "int n1, float h2) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(dptensor, CPU, m) {
  m.impl("tab_contract", &tab_contract_cpu);
  m.impl("tab_contract_grad", &tab_contract_grad_cpu);
}

}  // namespace dptensor
