// Prediction::outputs(): the named, shaped view of a Prediction (no libtorch here).

#include "dptensor/deep_model.h"

namespace dptensor {

std::vector<OutputView> Prediction::outputs() const {
  const long long nf = nframes, nat = natoms;
  const OutputView all[] = {{"energy", {nf}, &energy},
                            {"force", {nf, nat, 3}, &force},
                            {"virial", {nf, 3, 3}, &virial},
                            {"atom_energy", {nf, nat}, &atom_energy},
                            {"hessian", {nf, 3 * nat, 3 * nat}, &hessian},
                            {"dipole", {nf, 3}, &dipole},
                            {"atomic_dipole", {nf, nat, 3}, &atomic_dipole},
                            {"polar", {nf, 3, 3}, &polar},
                            {"atomic_polar", {nf, nat, 3, 3}, &atomic_polar}};
  std::vector<OutputView> views;
  for (const OutputView& view : all) {
    if (!view.values->empty()) views.push_back(view);
  }
  return views;
}

}  // namespace dptensor
