// dpt-eval: evaluate a frozen dptensor model on a DeePMD system folder, without Python.
//
//   dpt-eval MODEL.pth SYSTEM [--atomic] [--hessian] [--output DIR] [--quiet]
//
// Prints the model's metadata and, per frame, its predictions; --output DIR also writes each
// prediction as DIR/<name>.npy (float64, frames first: energy.npy is nframes, force.npy
// nframes x natoms x 3, ...), the names and shapes of dptensor.infer.DeepModel.evaluate.
// Exit status: 0 on success, 1 on an error (one line on stderr), 2 on a usage error.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "dptensor/deep_model.h"
#include "npy.h"
#include "system.h"

namespace {

constexpr int kChunkAtoms = 20000;  // frames per call: about this many atoms (as dptensor's Python)

struct Args {
  std::string model, system, output;
  dptensor::EvalOptions options;
  bool quiet = false;
};

const char kUsage[] =
    "usage: dpt-eval MODEL.pth SYSTEM [--atomic] [--hessian] [--output DIR] [--quiet]\n"
    "  MODEL.pth   a model frozen by `dpt freeze` (PyTorch backend)\n"
    "  SYSTEM      a DeePMD system folder (type.raw, set.*/coord.npy, box.npy or nopbc)\n"
    "  --atomic    also the per-atom output (atom_energy, atomic_dipole, atomic_polar)\n"
    "  --hessian   also the Hessian d2E/dx2 (energy models)\n"
    "  --output    write every prediction as DIR/<name>.npy\n"
    "  --quiet     print only the model and the timing, not the values\n";

bool parse(int argc, char** argv, Args& args) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--atomic") {
      args.options.atomic = true;
    } else if (a == "--hessian") {
      args.options.hessian = true;
    } else if (a == "--quiet") {
      args.quiet = true;
    } else if (a == "--output" && i + 1 < argc) {
      args.output = argv[++i];
    } else if (a.rfind("--", 0) == 0) {
      return false;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2) return false;
  args.model = positional[0];
  args.system = positional[1];
  return true;
}

void print_model(const dptensor::DeepModel& model) {
  std::printf("model_type: %s\ncutoff: %.6g\ntype_map:", model.model_type().c_str(),
              model.cutoff());
  for (const std::string& name : model.type_map()) std::printf(" %s", name.c_str());
  std::printf("\nsel:");
  for (int s : model.sel()) std::printf(" %d", s);
  std::printf("\nsel_type:");
  for (int t : model.sel_type()) std::printf(" %d", t);
  std::printf("\nhas_hessian: %s\n", model.has_hessian() ? "true" : "false");
}

// Frame f of one output: a scalar or a vector on one line; a 3 x 3 matrix, or per-atom values,
// as a table with the row (atom) index first.
void print_frame(const dptensor::OutputView& view, int f) {
  long long per_frame = 1;
  for (size_t k = 1; k < view.shape.size(); ++k) per_frame *= view.shape[k];
  const double* v = view.values->data() + f * per_frame;
  if (view.name == "hessian") {
    std::printf("  hessian: %lld x %lld (not printed; use --output)\n", view.shape[1],
                view.shape[2]);
    return;
  }
  const bool table = view.shape.size() >= 3 || view.name == "atom_energy";
  const long long rows = table ? view.shape[1] : 1;
  const long long cols = per_frame / rows;
  std::printf("  %s:%s", view.name.c_str(), table ? "\n" : "");
  for (long long r = 0; r < rows; ++r) {
    if (table) std::printf("    %5lld", r);
    for (long long c = 0; c < cols; ++c) std::printf(" % .10e", v[r * cols + c]);
    std::printf("\n");
  }
}

// Appends `part` (a chunk of frames) to the running `all`, output by output.
void append(dptensor::Prediction& all, const dptensor::Prediction& part) {
  std::vector<double>* to[] = {&all.energy, &all.force, &all.virial, &all.atom_energy,
                               &all.hessian, &all.dipole, &all.atomic_dipole, &all.polar,
                               &all.atomic_polar};
  const std::vector<double>* from[] = {&part.energy, &part.force, &part.virial,
                                       &part.atom_energy, &part.hessian, &part.dipole,
                                       &part.atomic_dipole, &part.polar, &part.atomic_polar};
  for (int k = 0; k < 9; ++k) to[k]->insert(to[k]->end(), from[k]->begin(), from[k]->end());
  all.nframes += part.nframes;
  all.natoms = part.natoms;
}

dptensor::Prediction evaluate_all(const dptensor::DeepModel& model, const dpt_eval::System& sys,
                                  const dptensor::EvalOptions& options) {
  const int nat = sys.natoms();
  const int step = std::max(1, kChunkAtoms / nat);
  dptensor::Prediction all;
  for (int start = 0; start < sys.nframes; start += step) {
    const int stop = std::min(start + step, sys.nframes);
    std::vector<double> coord(sys.coord.begin() + 3LL * nat * start,
                              sys.coord.begin() + 3LL * nat * stop);
    std::vector<double> box;
    if (!sys.box.empty()) box.assign(sys.box.begin() + 9LL * start, sys.box.begin() + 9LL * stop);
    append(all, model.evaluate(coord, box, sys.atype, options));
  }
  return all;
}

void write_outputs(const dptensor::Prediction& pred, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (const dptensor::OutputView& view : pred.outputs()) {
    dpt_eval::write_npy(dir + "/" + view.name + ".npy", view.shape, view.values->data());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, args)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    using Clock = std::chrono::steady_clock;
    auto t0 = Clock::now();
    dptensor::DeepModel model(args.model);
    auto t1 = Clock::now();
    dpt_eval::System sys = dpt_eval::read_system(args.system, model.type_map());
    auto t2 = Clock::now();
    dptensor::Prediction pred = evaluate_all(model, sys, args.options);
    auto t3 = Clock::now();
    print_model(model);
    std::printf("system: %s\nframes: %d\natoms: %d\nperiodic: %s\n", sys.path.c_str(),
                sys.nframes, sys.natoms(), sys.box.empty() ? "false" : "true");
    const std::vector<dptensor::OutputView> views = pred.outputs();
    for (int f = 0; f < pred.nframes && !args.quiet; ++f) {
      std::printf("frame %d\n", f);
      for (const dptensor::OutputView& view : views) print_frame(view, f);
    }
    if (!args.output.empty()) write_outputs(pred, args.output);
    auto ms = [](Clock::time_point a, Clock::time_point b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    std::printf("time: load %.1f ms, read %.1f ms, evaluate %.1f ms (%.2f ms per frame)\n",
                ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t2, t3) / std::max(1, sys.nframes));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dpt-eval: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
