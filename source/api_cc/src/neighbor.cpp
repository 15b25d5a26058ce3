// Neighbor lists for dptensor models; see include/dptensor/neighbor.h for the definition.
//
// Method (linear in the number of atoms, any cell shape and size):
// 1. Coordinates are wrapped into the cell: fractional s in [0, 1), coord = wrapped + c . box
//    with c the integer cell of the atom.
// 2. Along cell vector k only images with |n_k| <= floor(rcut / d_k) + 1 can hold neighbors, d_k
//    being the distance between the two faces spanned by the other two vectors. Of those image
//    atoms ("points") only the ones within rcut of the cell slab in every direction are kept.
// 3. Points go into Cartesian bins at least rcut wide, so the neighbors of an atom are in its own
//    bin and the adjacent ones. The bins tile the points' bounding box (no periodic wrap: the
//    images already are points).
// 4. Per atom, the candidates are sorted by (type, distance) and cut at sel[type]. The image of the
//    original (unwrapped) coordinates is n - c_j + c_i, so r_ij = coord[j] + shift - coord[i].

#include "dptensor/neighbor.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

namespace dptensor {
namespace {

using Vec3 = std::array<double, 3>;
using Img3 = std::array<int, 3>;

constexpr double kSingularVolume = 1e-10;  // A^3: a cell flatter than this cannot be inverted
constexpr double kSlabMargin = 1e-6;       // fractional slack of step 2; the exact test follows
constexpr int kMinBins = 64;               // bins allowed beyond one per point (tiny systems)

struct Cell {
  bool periodic = false;
  double box[9] = {0};  // rows a, b, c
  double inv[9] = {0};  // box^-1: s = x . inv
  Vec3 reach{};         // rcut / d_k: how far (in fractions of the cell) a neighbor can be
  Img3 nmax{};          // largest |n_k| of an image that can hold neighbors
};

struct Point {  // an atom in one periodic image
  Vec3 pos;     // wrapped position + n . box
  int atom;
  Img3 n;
};

struct Candidate {
  int type;
  double d2;
  int atom;
  Img3 image;  // of the original coordinates
  bool operator<(const Candidate& o) const {
    if (type != o.type) return type < o.type;
    if (d2 != o.d2) return d2 < o.d2;
    if (atom != o.atom) return atom < o.atom;
    return image < o.image;
  }
};

Vec3 cross(const double* a, const double* b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

// The cell of a 3 x 3 box and its inverse; Error if it has no volume or is not finite.
Cell make_cell(const double* box, double rcut) {
  Cell cell;
  cell.periodic = true;
  std::copy(box, box + 9, cell.box);
  const double* a = box;
  const double* b = box + 3;
  const double* c = box + 6;
  Vec3 bc = cross(b, c), ca = cross(c, a), ab = cross(a, b);
  double det = a[0] * bc[0] + a[1] * bc[1] + a[2] * bc[2];
  if (!std::isfinite(det) || std::fabs(det) < kSingularVolume) {
    char volume[32];
    std::snprintf(volume, sizeof(volume), "%.3g", det);
    throw Error(std::string("the box has volume ") + volume +
                " A^3: its three cell vectors (rows) must be independent and finite");
  }
  // inverse of the matrix with rows a, b, c: columns are (b x c, c x a, a x b) / det
  const Vec3* cols[3] = {&bc, &ca, &ab};
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) cell.inv[r * 3 + k] = (*cols[k])[r] / det;
  const Vec3* faces[3] = {&bc, &ca, &ab};  // face k is spanned by the two other vectors
  for (int k = 0; k < 3; ++k) {
    double d = std::fabs(det) / norm(*faces[k]);
    cell.reach[k] = rcut / d;
    cell.nmax[k] = static_cast<int>(std::floor(rcut / d)) + 1;
  }
  return cell;
}

void check_inputs(const double* coord, int natoms, const int* atype, int ntypes) {
  for (int i = 0; i < natoms; ++i) {
    if (atype[i] < 0 || atype[i] >= ntypes) {
      throw Error("atom " + std::to_string(i) + " has type " + std::to_string(atype[i]) +
                  "; the model has " + std::to_string(ntypes) + " types (0 to " +
                  std::to_string(ntypes - 1) + ")");
    }
    for (int d = 0; d < 3; ++d) {
      if (!std::isfinite(coord[3 * i + d])) {
        throw Error("atom " + std::to_string(i) + " has a coordinate that is not finite");
      }
    }
  }
}

// Step 1: wrapped positions and the cell c of each atom (non-periodic: unchanged, c = 0).
void wrap(const Cell& cell, const double* coord, int natoms, std::vector<Vec3>& wrapped,
          std::vector<Img3>& cell_of, std::vector<Vec3>& frac) {
  wrapped.resize(natoms);
  cell_of.assign(natoms, Img3{0, 0, 0});
  frac.assign(natoms, Vec3{0, 0, 0});
  for (int i = 0; i < natoms; ++i) {
    const double* x = coord + 3 * i;
    if (!cell.periodic) {
      wrapped[i] = {x[0], x[1], x[2]};
      continue;
    }
    for (int k = 0; k < 3; ++k) {
      double s = x[0] * cell.inv[k] + x[1] * cell.inv[3 + k] + x[2] * cell.inv[6 + k];
      cell_of[i][k] = static_cast<int>(std::floor(s));
      frac[i][k] = s - cell_of[i][k];
    }
    for (int d = 0; d < 3; ++d) {
      double back = 0.0;
      for (int k = 0; k < 3; ++k) back += cell_of[i][k] * cell.box[3 * k + d];
      wrapped[i][d] = x[d] - back;
    }
  }
}

// Step 2: every atom in every image that may be a neighbor of an atom in the cell.
std::vector<Point> make_points(const Cell& cell, const std::vector<Vec3>& wrapped,
                               const std::vector<Vec3>& frac) {
  const int natoms = static_cast<int>(wrapped.size());
  std::vector<Point> points;
  if (!cell.periodic) {
    for (int j = 0; j < natoms; ++j) points.push_back({wrapped[j], j, {0, 0, 0}});
    return points;
  }
  Img3 n;
  for (n[0] = -cell.nmax[0]; n[0] <= cell.nmax[0]; ++n[0])
    for (n[1] = -cell.nmax[1]; n[1] <= cell.nmax[1]; ++n[1])
      for (n[2] = -cell.nmax[2]; n[2] <= cell.nmax[2]; ++n[2]) {
        Vec3 sh{};
        for (int d = 0; d < 3; ++d)
          for (int k = 0; k < 3; ++k) sh[d] += n[k] * cell.box[3 * k + d];
        for (int j = 0; j < natoms; ++j) {
          bool inside = true;
          for (int k = 0; k < 3 && inside; ++k) {
            double u = frac[j][k] + n[k];
            inside = u > -cell.reach[k] - kSlabMargin && u < 1.0 + cell.reach[k] + kSlabMargin;
          }
          if (inside) {
            points.push_back({{wrapped[j][0] + sh[0], wrapped[j][1] + sh[1], wrapped[j][2] + sh[2]},
                              j, n});
          }
        }
      }
  return points;
}

// Step 3: points sorted into bins (CSR: the points of bin b are order[start[b] .. start[b+1])).
struct Bins {
  Vec3 lo{}, width{};
  Img3 count{1, 1, 1};
  std::vector<int> start, order;

  Img3 bin_of(const Vec3& p) const {
    Img3 b;
    for (int k = 0; k < 3; ++k) {
      int v = static_cast<int>(std::floor((p[k] - lo[k]) / width[k]));
      b[k] = std::min(std::max(v, 0), count[k] - 1);
    }
    return b;
  }
  int flat(const Img3& b) const { return (b[0] * count[1] + b[1]) * count[2] + b[2]; }
};

Bins make_bins(const std::vector<Point>& points, double rcut) {
  Bins bins;
  Vec3 hi{};
  for (int k = 0; k < 3; ++k) {
    bins.lo[k] = hi[k] = points.empty() ? 0.0 : points[0].pos[k];
    for (const Point& p : points) {
      bins.lo[k] = std::min(bins.lo[k], p.pos[k]);
      hi[k] = std::max(hi[k], p.pos[k]);
    }
    double extent = hi[k] - bins.lo[k];
    bins.count[k] = std::max(1, static_cast<int>(std::min(extent / rcut, 1e6)));
  }
  // a sparse cluster would ask for far more bins than points: widen the bins (never below rcut)
  const double limit = static_cast<double>(points.size()) + kMinBins;
  while (static_cast<double>(bins.count[0]) * bins.count[1] * bins.count[2] > limit) {
    int k = static_cast<int>(std::max_element(bins.count.begin(), bins.count.end()) -
                             bins.count.begin());
    bins.count[k] = std::max(1, bins.count[k] / 2);
  }
  for (int k = 0; k < 3; ++k) {
    double extent = hi[k] - bins.lo[k];
    bins.width[k] = std::max(extent / bins.count[k], rcut);
  }
  const int nbins = bins.count[0] * bins.count[1] * bins.count[2];
  std::vector<int> of(points.size());
  bins.start.assign(nbins + 1, 0);
  for (size_t p = 0; p < points.size(); ++p) {
    of[p] = bins.flat(bins.bin_of(points[p].pos));
    ++bins.start[of[p] + 1];
  }
  std::partial_sum(bins.start.begin(), bins.start.end(), bins.start.begin());
  bins.order.resize(points.size());
  std::vector<int> fill(bins.start.begin(), bins.start.end() - 1);
  for (size_t p = 0; p < points.size(); ++p) bins.order[fill[of[p]]++] = static_cast<int>(p);
  return bins;
}

// Step 4 for atom i: its candidates (unsorted) from the bins around it.
void gather(int i, const std::vector<Vec3>& wrapped, const std::vector<Img3>& cell_of,
            const int* atype, const std::vector<Point>& points, const Bins& bins, double rc2,
            std::vector<Candidate>& out) {
  out.clear();
  const Vec3& xi = wrapped[i];
  Img3 b = bins.bin_of(xi), lo, hi;
  for (int k = 0; k < 3; ++k) {
    lo[k] = std::max(b[k] - 1, 0);
    hi[k] = std::min(b[k] + 1, bins.count[k] - 1);
  }
  Img3 c;
  for (c[0] = lo[0]; c[0] <= hi[0]; ++c[0])
    for (c[1] = lo[1]; c[1] <= hi[1]; ++c[1])
      for (c[2] = lo[2]; c[2] <= hi[2]; ++c[2]) {
        int f = bins.flat(c);
        for (int q = bins.start[f]; q < bins.start[f + 1]; ++q) {
          const Point& p = points[bins.order[q]];
          double d2 = 0.0;
          for (int d = 0; d < 3; ++d) {
            double r = p.pos[d] - xi[d];
            d2 += r * r;
          }
          if (d2 >= rc2 || d2 <= 0.0) continue;
          const int j = p.atom;
          Img3 image;
          for (int k = 0; k < 3; ++k) image[k] = p.n[k] - cell_of[j][k] + cell_of[i][k];
          out.push_back({atype[j], d2, j, image});
        }
      }
}

}  // namespace

NeighborList build_neighbor_list(const double* coord, int natoms, const double* box,
                                 const int* atype, double rcut, const std::vector<int>& sel) {
  const int ntypes = static_cast<int>(sel.size());
  check_inputs(coord, natoms, atype, ntypes);
  Cell cell = box ? make_cell(box, rcut) : Cell{};
  std::vector<int> offset(ntypes + 1, 0);
  for (int t = 0; t < ntypes; ++t) offset[t + 1] = offset[t] + sel[t];

  NeighborList out;
  out.natoms = natoms;
  out.nnei = offset[ntypes];
  out.nlist.assign(static_cast<size_t>(natoms) * out.nnei, -1);
  out.shift.assign(static_cast<size_t>(natoms) * out.nnei * 3, 0.0);
  out.dropped.assign(ntypes, 0);

  std::vector<Vec3> wrapped, frac;
  std::vector<Img3> cell_of;
  wrap(cell, coord, natoms, wrapped, cell_of, frac);
  std::vector<Point> points = make_points(cell, wrapped, frac);
  Bins bins = make_bins(points, rcut);
  std::vector<Candidate> cand;
  std::vector<int> rank(ntypes);
  for (int i = 0; i < natoms; ++i) {
    gather(i, wrapped, cell_of, atype, points, bins, rcut * rcut, cand);
    std::sort(cand.begin(), cand.end());
    std::fill(rank.begin(), rank.end(), 0);
    for (const Candidate& c : cand) {
      if (rank[c.type] >= sel[c.type]) {
        ++out.dropped[c.type];
        continue;
      }
      size_t slot = static_cast<size_t>(i) * out.nnei + offset[c.type] + rank[c.type]++;
      out.nlist[slot] = c.atom;
      for (int d = 0; d < 3 && cell.periodic; ++d) {
        double s = 0.0;
        for (int k = 0; k < 3; ++k) s += c.image[k] * cell.box[3 * k + d];
        out.shift[3 * slot + d] = s;
      }
    }
  }
  return out;
}

}  // namespace dptensor
