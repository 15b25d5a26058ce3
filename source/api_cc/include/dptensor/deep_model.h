// dptensor::DeepModel: evaluate a frozen dptensor model (.pth, TorchScript) from C++.
//
// This header needs C++17 and nothing else: libtorch stays inside the library, so a program that
// includes it compiles in seconds and links only libdptensor_api_cc.
//
// Units and layouts follow dptensor's Python API (dptensor.infer.DeepModel):
//   coordinates and cell vectors in Angstrom, energies in eV, forces in eV/A,
//   arrays flat and row-major (C order), frames first, atoms next, Cartesian components last.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dptensor/error.h"

namespace dptensor {

// What to compute besides the model's main output (and, for energy models, force and virial).
struct EvalOptions {
  bool atomic = false;   // per-atom output: atom_energy, atomic_dipole or atomic_polar
  bool hessian = false;  // d2E/dx2 (energy models only; memory grows as natoms^2)
};

// One named output of a Prediction: its shape and a view of its values.
struct OutputView {
  std::string name;             // as in Python: "energy", "force", "atomic_dipole", ...
  std::vector<long long> shape;  // e.g. {nframes, natoms, 3}
  const std::vector<double>* values;
};

// The predictions for nframes frames of natoms atoms. A vector the model does not produce (or that
// was not asked for) is empty. Tensors of rank 2 (virial, polar) are 3 x 3 row-major.
struct Prediction {
  int nframes = 0;
  int natoms = 0;
  std::vector<double> energy;         // nframes                          (ener)
  std::vector<double> force;          // nframes x natoms x 3             (ener)
  std::vector<double> virial;         // nframes x 3 x 3                  (ener)
  std::vector<double> atom_energy;    // nframes x natoms                 (ener, atomic)
  std::vector<double> hessian;        // nframes x 3natoms x 3natoms      (ener, hessian),
                                      //   rows/columns atom-major: x0 y0 z0 x1 ...
  std::vector<double> dipole;         // nframes x 3                      (dipole)
  std::vector<double> atomic_dipole;  // nframes x natoms x 3             (dipole, atomic)
  std::vector<double> polar;          // nframes x 3 x 3                  (polar)
  std::vector<double> atomic_polar;   // nframes x natoms x 3 x 3         (polar, atomic)

  // The non-empty outputs in the order above, with their shapes (for printing or saving).
  std::vector<OutputView> outputs() const;
};

// A frozen model loaded once and evaluated many times. Move-only; evaluate() is const and may be
// called from several threads.
class DeepModel {
 public:
  // Loads `path` (written by `dpt freeze` with the PyTorch backend). Throws Error if the file is
  // missing, is not TorchScript, or is not a dptensor model of a version this library reads.
  explicit DeepModel(const std::string& path);
  ~DeepModel();
  DeepModel(DeepModel&&) noexcept;
  DeepModel& operator=(DeepModel&&) noexcept;
  DeepModel(const DeepModel&) = delete;
  DeepModel& operator=(const DeepModel&) = delete;

  // Evaluates nframes = coord.size() / (3 natoms) frames that share the atom types `atype`
  // (natoms values, indices into type_map()).
  //   coord: nframes x natoms x 3.
  //   box:   nframes x 9 (cell vectors a, b, c as rows; any shape, any size), or empty for
  //          non-periodic frames. Atoms may lie outside the cell.
  // The neighbor list (periodic images included) is built here, as dptensor builds it in Python.
  Prediction evaluate(const std::vector<double>& coord, const std::vector<double>& box,
                      const std::vector<int>& atype, const EvalOptions& options = {}) const;

  const std::vector<std::string>& type_map() const;  // element name of each type index
  const std::string& model_type() const;             // "ener", "dipole" or "polar"
  double cutoff() const;                             // rcut, Angstrom
  const std::vector<int>& sel() const;               // neighbors kept per type (nearest first)
  const std::vector<int>& sel_type() const;          // types with an atomic tensor output
  bool has_hessian() const;                          // frozen as a Hessian model
  int ntypes() const { return static_cast<int>(type_map().size()); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dptensor
