// Neighbor lists in the layout of dptensor's models (the C++ twin of dptensor/data/neighbor.py).
//
// Atom j in the periodic image n (an integer 3-vector) is a neighbor of atom i when
// 0 < |r_ij| < rcut, r_ij = coord[j] + n . box - coord[i] (box rows are cell vectors); periodic
// images of i itself count. The list of atom i has nnei = sum(sel) slots in type blocks:
// slots [sum(sel[:t]), sum(sel[:t+1])) hold the type-t neighbors by increasing distance, cut at
// sel[t] (the nearest are kept), then -1.
#pragma once

#include <cstdint>
#include <vector>

#include "dptensor/error.h"

namespace dptensor {

struct NeighborList {
  int natoms = 0;
  int nnei = 0;                 // sum(sel)
  std::vector<int64_t> nlist;   // natoms x nnei, neighbor index or -1
  std::vector<double> shift;    // natoms x nnei x 3, Cartesian image shift n . box (0 if empty)
  std::vector<int> dropped;     // per type: neighbors left out because of sel
};

// One frame: coord natoms x 3, box 9 values (rows a, b, c) or empty (non-periodic), atype natoms
// values in [0, sel.size()). Throws dptensor::Error for a singular box or a bad atom type.
NeighborList build_neighbor_list(const double* coord, int natoms, const double* box,
                                 const int* atype, double rcut, const std::vector<int>& sel);

}  // namespace dptensor
