// The DeePMD layouts (see doc/index.md, "Data"): set.*/<name>.npy folders, or <name>.raw text
// files with one frame per line, beside type.raw (one type index per atom).

#include "system.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "npy.h"

namespace fs = std::filesystem;

namespace dpt_eval {
namespace {

std::vector<std::string> words_of(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot open");
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// type.raw in the model's indices: by element name when type_map.raw exists, else as stored.
std::vector<int> read_types(const fs::path& dir, const std::vector<std::string>& type_map) {
  const fs::path type_file = dir / "type.raw";
  if (!fs::is_regular_file(type_file)) {
    throw std::runtime_error(dir.string() + ": not a DeePMD system: type.raw is missing");
  }
  std::vector<int> types;
  for (const std::string& w : words_of(type_file)) {
    size_t used = 0;
    int t = -1;
    try {
      t = std::stoi(w, &used);
    } catch (const std::exception&) {
    }
    if (used != w.size() || t < 0) {
      throw std::runtime_error(type_file.string() + ": '" + w + "' is not a type index (>= 0)");
    }
    types.push_back(t);
  }
  if (types.empty()) throw std::runtime_error(type_file.string() + ": no atoms");
  const fs::path map_file = dir / "type_map.raw";
  if (!fs::is_regular_file(map_file)) return types;  // indices are the model's own
  const std::vector<std::string> names = words_of(map_file);
  for (int& t : types) {
    if (t >= static_cast<int>(names.size())) {
      throw std::runtime_error(type_file.string() + ": type index " + std::to_string(t) +
                               " but type_map.raw lists " + std::to_string(names.size()) +
                               " names");
    }
    auto it = std::find(type_map.begin(), type_map.end(), names[t]);
    if (it == type_map.end()) {
      throw std::runtime_error(map_file.string() + ": element " + names[t] +
                               " is not in the model's type_map");
    }
    t = static_cast<int>(it - type_map.begin());
  }
  return types;
}

std::vector<double> read_raw_table(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot open");
  std::vector<double> values;
  for (std::string w; in >> w;) {
    try {
      values.push_back(std::stod(w));
    } catch (const std::exception&) {
      throw std::runtime_error(file.string() + ": '" + w + "' is not a number");
    }
  }
  return values;
}

std::vector<double> read_array(const fs::path& file) {
  return file.extension() == ".npy" ? read_npy(file.string()).values : read_raw_table(file);
}

// Appends the frames of one set (or of the .raw files) to `sys`; checks the sizes.
void read_frames(const fs::path& dir, const std::string& ext, bool periodic, System& sys) {
  const fs::path coord_file = dir / ("coord" + ext), box_file = dir / ("box" + ext);
  std::vector<double> coord = read_array(coord_file);
  const size_t per_frame = 3 * sys.atype.size();
  if (coord.empty() || coord.size() % per_frame != 0) {
    throw std::runtime_error(coord_file.string() + ": " + std::to_string(coord.size()) +
                             " values; expected nframes x " + std::to_string(per_frame) +
                             " (3 x the " + std::to_string(sys.atype.size()) +
                             " atoms of type.raw)");
  }
  const size_t nf = coord.size() / per_frame;
  if (periodic) {
    if (!fs::is_regular_file(box_file)) {
      throw std::runtime_error(box_file.string() + " is missing; for a non-periodic system put "
                               "an empty file named 'nopbc' in the system folder");
    }
    std::vector<double> box = read_array(box_file);
    if (box.size() != 9 * nf) {
      throw std::runtime_error(box_file.string() + ": " + std::to_string(box.size()) +
                               " values; expected " + std::to_string(nf) + " frames x 9");
    }
    sys.box.insert(sys.box.end(), box.begin(), box.end());
  }
  sys.coord.insert(sys.coord.end(), coord.begin(), coord.end());
  sys.nframes += static_cast<int>(nf);
}

}  // namespace

System read_system(const std::string& path, const std::vector<std::string>& model_type_map) {
  const fs::path dir(path);
  if (!fs::is_directory(dir)) throw std::runtime_error(path + ": no such system folder");
  System sys;
  sys.path = path;
  sys.atype = read_types(dir, model_type_map);
  const bool periodic = !fs::exists(dir / "nopbc");
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("set.", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  for (const fs::path& set : sets) read_frames(set, ".npy", periodic, sys);
  if (sets.empty()) {
    if (!fs::is_regular_file(dir / "coord.raw")) {
      throw std::runtime_error(path + ": no frames: neither set.*/coord.npy nor coord.raw");
    }
    read_frames(dir, ".raw", periodic, sys);
  }
  return sys;
}

}  // namespace dpt_eval
