// A DeePMD system folder as dpt-eval needs it: atom types, coordinates and cells.
#pragma once

#include <string>
#include <vector>

namespace dpt_eval {

struct System {
  std::string path;
  std::vector<int> atype;     // natoms, the model's type indices
  std::vector<double> coord;  // nframes x natoms x 3, Angstrom
  std::vector<double> box;    // nframes x 9, empty when the folder has a `nopbc` marker
  int nframes = 0;
  int natoms() const { return static_cast<int>(atype.size()); }
};

// Reads type.raw (and type_map.raw if present: element names are mapped to the model's
// type_map), then the frames of every set.*/coord.npy + box.npy in sorted order, or, without
// sets, coord.raw + box.raw. Throws std::runtime_error naming the file and what would fit.
System read_system(const std::string& path, const std::vector<std::string>& model_type_map);

}  // namespace dpt_eval
