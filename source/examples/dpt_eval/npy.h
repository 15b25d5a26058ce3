// Reading and writing NumPy .npy files (the array format of DeePMD system folders).
#pragma once

#include <string>
#include <vector>

namespace dpt_eval {

struct NpyArray {
  std::vector<long long> shape;
  std::vector<double> values;  // C order, converted to double
};

// Reads a little-endian, C-order array of float64, float32, int64 or int32 (format 1.0 to 3.0).
// Throws std::runtime_error naming the file otherwise.
NpyArray read_npy(const std::string& path);

// Writes a float64 array (format 1.0), atomically: to a temporary file, then renamed.
void write_npy(const std::string& path, const std::vector<long long>& shape, const double* values);

}  // namespace dpt_eval
