// dptensor::DeepModel with libtorch. The only translation unit of the library that includes torch
// headers (they take most of the build time).
//
// The frozen file (backends/dptensor_pt/freeze.py) holds a scripted module with
//   forward(coord nf x nat x 3 f64, atype nf x nat i64, nlist nf x nat x nnei i64 (-1 empty),
//           shift nf x nat x nnei x 3 f64, do_atomic, do_hessian) -> Dict[str, Tensor]
// (r_ij = coord[j] + shift - coord[i]), attributes type_map, model_type, rcut, sel, sel_type,
// has_hessian, and the extra file model.json whose "format" names the file kind.

#include <ATen/Parallel.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dptensor/deep_model.h"
#include "dptensor/neighbor.h"

namespace dptensor {
namespace {

constexpr const char* kExtraFile = "model.json";
constexpr const char* kFileFormat = "dptensor-frozen-pt";
constexpr long long kFileVersion = 1;

// The first sentence of libtorch's message (the rest is advice about checkpoints and a trace).
std::string first_sentence(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  line = line.substr(0, line.find(". "));
  return line.empty() ? "unknown reason" : line;
}

// The last line of a TorchScript interpreter error: the error itself, after the traceback.
std::string last_line(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::string line = text.substr(text.rfind('\n') + 1);
  return line.empty() ? "unknown reason" : line;
}

// The value of the first "key": in a JSON text, as raw text (a string without its quotes); empty
// if absent. model.json starts with "format" and "version", before the (large) serialized model,
// so the first occurrence is the top-level key.
std::string json_field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return "";
  at = json.find(':', at);
  if (at == std::string::npos) return "";
  at = json.find_first_not_of(" \t\r\n", at + 1);
  if (at == std::string::npos) return "";
  if (json[at] == '"') {
    size_t end = json.find('"', at + 1);
    return end == std::string::npos ? "" : json.substr(at + 1, end - at - 1);
  }
  size_t end = json.find_first_of(",}\n", at);
  return json.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// Error unless model.json says this is a dptensor frozen model of the version read here.
void check_document(const std::string& path, const std::string& json) {
  if (json.empty()) {
    throw Error(path + ": not a dptensor frozen model (no " + kExtraFile + " in the file)");
  }
  if (json_field(json, "format") != kFileFormat) {
    throw Error(path + ": not a dptensor frozen model (" + kExtraFile + " has no \"format\": \"" +
                kFileFormat + "\")");
  }
  std::string version = json_field(json, "version");
  if (version != std::to_string(kFileVersion)) {
    throw Error(path + ": frozen-model version " + version + " (written by dptensor " +
                json_field(json, "dptensor_version") + "); this library reads version " +
                std::to_string(kFileVersion));
  }
}

// DPT_INTRA_OP_THREADS / DPT_INTER_OP_THREADS, as for the Python backends (unset or 0: libtorch's
// choice). A value that is not a count is reported on stderr and ignored, as in Python.
int thread_count(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  long n = std::strtol(text, &end, 10);
  if (*end != '\0' || n < 0) {
    std::fprintf(stderr, "dptensor: ignoring %s='%s' (expected a thread count >= 0)\n", name, text);
    return 0;
  }
  return static_cast<int>(n);
}

void apply_thread_settings() {
  if (int n = thread_count("DPT_INTRA_OP_THREADS")) at::set_num_threads(n);
  if (int n = thread_count("DPT_INTER_OP_THREADS")) {
    try {
      at::set_num_interop_threads(n);
    } catch (const c10::Error&) {
      // libtorch fixes the inter-op pool when it first runs work; a later model keeps it
    }
  }
}

std::vector<int> int_list(const c10::IValue& value) {
  std::vector<int> out;
  for (int64_t v : value.toIntList()) out.push_back(static_cast<int>(v));
  return out;
}

at::Tensor tensor_from(const std::vector<double>& values, at::IntArrayRef shape) {
  return torch::from_blob(const_cast<double*>(values.data()), shape, torch::kFloat64).clone();
}

at::Tensor tensor_from(const std::vector<int64_t>& values, at::IntArrayRef shape) {
  return torch::from_blob(const_cast<int64_t*>(values.data()), shape, torch::kInt64).clone();
}

std::vector<double> to_vector(const at::Tensor& t) {
  at::Tensor c = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

struct DeepModel::Impl {
  std::string path;
  torch::jit::Module module;
  std::vector<std::string> type_map;
  std::string model_type;
  double rcut = 0.0;
  std::vector<int> sel, sel_type;
  bool has_hessian = false;
  bool hessian_available = true;  // false: frozen with --no-hessian (files before 2026-12 had it)

  void load(const std::string& file);
  void read_attributes();
  void check_inputs(size_t ncoord, size_t nbox, const std::vector<int>& atype,
                    const EvalOptions& options) const;
  std::vector<c10::IValue> inputs(const std::vector<double>& coord,
                                  const std::vector<double>& box, const std::vector<int>& atype,
                                  int nframes, const EvalOptions& options) const;
};

void DeepModel::Impl::load(const std::string& file) {
  path = file;
  if (!std::ifstream(file).good()) throw Error(file + ": no such model file (or not readable)");
  torch::jit::ExtraFilesMap extra{{kExtraFile, ""}};
  try {
    module = torch::jit::load(file, torch::kCPU, extra);
  } catch (const c10::Error& e) {
    throw Error(file + ": not a TorchScript model (" + first_sentence(e.what_without_backtrace()) +
                ")");
  } catch (const std::exception& e) {
    throw Error(file + ": not a TorchScript model (" + first_sentence(e.what()) + ")");
  }
  check_document(file, extra[kExtraFile]);
  module.eval();
  read_attributes();
  apply_thread_settings();
}

void DeepModel::Impl::read_attributes() {
  const char* names[] = {"type_map", "model_type", "rcut", "sel", "sel_type", "has_hessian"};
  for (const char* name : names) {
    if (!module.hasattr(name)) {
      throw Error(path + ": not a dptensor frozen model (the module has no attribute '" + name +
                  "')");
    }
  }
  for (const c10::IValue& name : module.attr("type_map").toListRef()) {
    type_map.push_back(name.toStringRef());
  }
  model_type = module.attr("model_type").toStringRef();
  rcut = module.attr("rcut").toDouble();
  sel = int_list(module.attr("sel"));
  sel_type = int_list(module.attr("sel_type"));
  has_hessian = module.attr("has_hessian").toBool();
  hessian_available = !module.hasattr("hessian_available") || module.attr("hessian_available").toBool();
  if (sel.size() != type_map.size()) {
    throw Error(path + ": sel has " + std::to_string(sel.size()) + " entries but type_map " +
                std::to_string(type_map.size()));
  }
}

void DeepModel::Impl::check_inputs(size_t ncoord, size_t nbox, const std::vector<int>& atype,
                                   const EvalOptions& options) const {
  const size_t natoms = atype.size();
  if (natoms == 0) throw Error("atype is empty: there must be at least one atom");
  if (ncoord == 0 || ncoord % (3 * natoms) != 0) {
    throw Error("coord has " + std::to_string(ncoord) + " values; expected nframes x natoms x 3 "
                "with natoms = " + std::to_string(natoms) + " (the length of atype), i.e. a "
                "positive multiple of " + std::to_string(3 * natoms));
  }
  const size_t nframes = ncoord / (3 * natoms);
  if (nbox != 0 && nbox != 9 * nframes) {
    throw Error("box has " + std::to_string(nbox) + " values; expected nframes x 9 = " +
                std::to_string(9 * nframes) + " (" + std::to_string(nframes) +
                (nframes == 1 ? " frame" : " frames") + "), or none for non-periodic frames");
  }
  const int ntypes = static_cast<int>(type_map.size());
  for (size_t i = 0; i < natoms; ++i) {
    if (atype[i] < 0 || atype[i] >= ntypes) {
      std::ostringstream names;
      for (int t = 0; t < ntypes; ++t) names << (t ? " " : "") << t << "=" << type_map[t];
      throw Error("atype[" + std::to_string(i) + "] = " + std::to_string(atype[i]) +
                  " is not a type of this model (" + names.str() + ")");
    }
  }
  if (options.hessian && model_type != "ener") {
    throw Error(path + ": a " + model_type + " model has no Hessian (energy models only)");
  }
  if (options.hessian && !hessian_available) {
    throw Error(path + ": this model was frozen without its Hessian (dpt freeze --no-hessian)");
  }
}

std::vector<c10::IValue> DeepModel::Impl::inputs(const std::vector<double>& coord,
                                                 const std::vector<double>& box,
                                                 const std::vector<int>& atype, int nframes,
                                                 const EvalOptions& options) const {
  const int64_t nf = nframes, nat = static_cast<int64_t>(atype.size());
  int64_t nnei = 0;
  for (int s : sel) nnei += s;
  std::vector<int64_t> types(atype.begin(), atype.end()), nlist;
  std::vector<double> shift;
  nlist.reserve(nf * nat * nnei);
  shift.reserve(nf * nat * nnei * 3);
  for (int64_t f = 0; f < nf; ++f) {
    const double* frame_box = box.empty() ? nullptr : box.data() + 9 * f;
    NeighborList nl = build_neighbor_list(coord.data() + 3 * nat * f, static_cast<int>(nat),
                                          frame_box, atype.data(), rcut, sel);
    nlist.insert(nlist.end(), nl.nlist.begin(), nl.nlist.end());
    shift.insert(shift.end(), nl.shift.begin(), nl.shift.end());
  }
  at::Tensor atype_t = tensor_from(types, {1, nat}).expand({nf, nat}).contiguous();
  return {tensor_from(coord, {nf, nat, 3}), atype_t, tensor_from(nlist, {nf, nat, nnei}),
          tensor_from(shift, {nf, nat, nnei, 3}), c10::IValue(options.atomic),
          c10::IValue(options.hessian)};
}

DeepModel::DeepModel(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->load(path);
}

DeepModel::~DeepModel() = default;
DeepModel::DeepModel(DeepModel&&) noexcept = default;
DeepModel& DeepModel::operator=(DeepModel&&) noexcept = default;

Prediction DeepModel::evaluate(const std::vector<double>& coord, const std::vector<double>& box,
                               const std::vector<int>& atype, const EvalOptions& options) const {
  impl_->check_inputs(coord.size(), box.size(), atype, options);
  Prediction out;
  out.natoms = static_cast<int>(atype.size());
  out.nframes = static_cast<int>(coord.size() / (3 * atype.size()));
  std::vector<c10::IValue> args = impl_->inputs(coord, box, atype, out.nframes, options);
  // The profiling executor re-optimizes the graph for each new input shape (the Hessian's row
  // blocks make several) and gains nothing in steady state on this already traced graph: run it
  // as it is (as the Python API does). The setting is thread-local and restored on return.
  torch::jit::GraphOptimizerEnabledGuard no_reoptimize(false);
  // Every output, the Hessian too, is plain traced ops: no autograd needed (files frozen before
  // the written-out Hessian differentiated their traced force, hence grad mode for a Hessian).
  torch::AutoGradMode grad_mode(options.hessian);
  c10::IValue returned;
  try {
    returned = impl_->module.forward(args);
  } catch (const c10::Error& e) {
    throw Error(impl_->path + ": evaluation failed (" + last_line(e.what_without_backtrace()) +
                ")");
  } catch (const std::exception& e) {
    throw Error(impl_->path + ": evaluation failed (" + last_line(e.what()) + ")");
  }
  std::vector<double>* fields[] = {&out.energy, &out.force, &out.virial, &out.atom_energy,
                                   &out.hessian, &out.dipole, &out.atomic_dipole, &out.polar,
                                   &out.atomic_polar};
  const char* names[] = {"energy", "force", "virial", "atom_energy", "hessian",
                         "dipole", "atomic_dipole", "polar", "atomic_polar"};
  const c10::impl::GenericDict result = returned.toGenericDict();
  for (int k = 0; k < 9; ++k) {
    auto it = result.find(names[k]);
    if (it != result.end()) *fields[k] = to_vector(it->value().toTensor());
  }
  return out;
}

const std::vector<std::string>& DeepModel::type_map() const { return impl_->type_map; }
const std::string& DeepModel::model_type() const { return impl_->model_type; }
double DeepModel::cutoff() const { return impl_->rcut; }
const std::vector<int>& DeepModel::sel() const { return impl_->sel; }
const std::vector<int>& DeepModel::sel_type() const { return impl_->sel_type; }
bool DeepModel::has_hessian() const { return impl_->has_hessian; }

}  // namespace dptensor
