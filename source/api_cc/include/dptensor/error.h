// The one exception type of the dptensor C++ API.
#pragma once

#include <stdexcept>
#include <string>

namespace dptensor {

// Every error of this library: a missing or foreign model file, inputs of the wrong size, an atom
// type outside type_map, a singular cell, a Hessian asked of a tensor model. what() says which
// and why, in one line.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace dptensor
