// The .npy format: magic "\x93NUMPY", version (2 bytes), header length (2 bytes in 1.0, 4 in
// 2.0/3.0, little-endian), a Python dict literal {'descr': '<f8', 'fortran_order': False,
// 'shape': (2, 9), } padded with spaces to a multiple of 64 bytes, then the raw data.

#include "npy.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dpt_eval {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kAlign = 64;

std::string dict_value(const std::string& header, const std::string& key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return "";
  at = header.find(':', at);
  if (at == std::string::npos) return "";
  at = header.find_first_not_of(' ', at + 1);
  if (at == std::string::npos) return "";
  char open = header[at];
  char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  size_t end = header.find(close, at + 1);
  if (end == std::string::npos) return "";
  return open == ',' ? header.substr(at, end - at) : header.substr(at, end - at + 1);
}

std::vector<long long> parse_shape(const std::string& text, const std::string& path) {
  std::vector<long long> shape;
  std::string inner = text.size() >= 2 ? text.substr(1, text.size() - 2) : "";
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      throw std::runtime_error(path + ": unreadable .npy shape " + text);
    }
  }
  return shape;
}

template <typename T>
void convert(const std::vector<char>& raw, std::vector<double>& out) {
  const size_t n = raw.size() / sizeof(T);
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  char magic[kMagicLen + 2];
  if (!in.read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, kMagicLen) != 0) {
    throw std::runtime_error(path + ": not a .npy file");
  }
  const int major = static_cast<unsigned char>(magic[kMagicLen]);
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const int nlen = major == 1 ? 2 : 4;
  in.read(reinterpret_cast<char*>(len_bytes), nlen);
  const size_t hlen = len_bytes[0] | (len_bytes[1] << 8) | (size_t(len_bytes[2]) << 16) |
                      (size_t(len_bytes[3]) << 24);
  std::string header(hlen, ' ');
  if (!in.read(header.data(), hlen)) throw std::runtime_error(path + ": truncated .npy header");
  const std::string descr = dict_value(header, "descr");
  if (dict_value(header, "fortran_order").rfind("True", 0) == 0) {
    throw std::runtime_error(path + ": Fortran-order arrays are not supported; save in C order");
  }
  NpyArray out;
  out.shape = parse_shape(dict_value(header, "shape"), path);
  size_t count = 1;
  for (long long d : out.shape) count *= static_cast<size_t>(d);
  const bool wide = descr == "'<f8'" || descr == "'<i8'";
  const size_t item = wide ? 8 : (descr == "'<f4'" || descr == "'<i4'") ? 4 : 0;
  if (item == 0) {
    throw std::runtime_error(path + ": dtype " + descr + " is not supported (float64, float32, "
                             "int64 or int32, little-endian)");
  }
  std::vector<char> raw(count * item);
  if (!in.read(raw.data(), static_cast<std::streamsize>(raw.size()))) {
    throw std::runtime_error(path + ": truncated .npy data (expected " + std::to_string(count) +
                             " values)");
  }
  if (descr == "'<f8'") convert<double>(raw, out.values);
  if (descr == "'<f4'") convert<float>(raw, out.values);
  if (descr == "'<i8'") convert<int64_t>(raw, out.values);
  if (descr == "'<i4'") convert<int32_t>(raw, out.values);
  return out;
}

void write_npy(const std::string& path, const std::vector<long long>& shape, const double* values) {
  std::string dims;  // Python's tuple syntax: "2, 3", "2," or ""
  size_t count = 1;
  for (size_t k = 0; k < shape.size(); ++k) {
    dims += (k ? ", " : "") + std::to_string(shape[k]);
    count *= static_cast<size_t>(shape[k]);
  }
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t total = kMagicLen + 4 + header.size() + 1;
  header.append((kAlign - total % kAlign) % kAlign, ' ');
  header += '\n';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const uint16_t hlen = static_cast<uint16_t>(header.size());
    const char version[2] = {1, 0};
    const char len[2] = {static_cast<char>(hlen & 0xff), static_cast<char>(hlen >> 8)};
    out.write(kMagic, kMagicLen).write(version, 2).write(len, 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(count * 8));
    if (!out) throw std::runtime_error(tmp + ": cannot write");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(path + ": cannot rename " + tmp + " to it");
  }
}

}  // namespace dpt_eval
