// dpt-api-check MODEL [CASE]: drives dptensor::DeepModel through the cases that
// tests/native/test_cpp_api.py checks, one per run.
//   no CASE: load and print the accessors, one "name: value" line each;
//   an error CASE: print "error: <what()>" and exit 3 if dptensor::Error was thrown, exit 0 if not;
//   threads: evaluate one frame serially and from 4 threads at once; exit 0 if all agree bitwise.
// Exit status 1: an exception of another type (a bug), 2: usage.

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "dptensor/deep_model.h"

namespace {

using dptensor::DeepModel;
using dptensor::EvalOptions;

// Two atoms 1 A apart along x in a 4 A cube: valid for any model of at least two types.
const std::vector<double> kCoord = {0.5, 0.5, 0.5, 1.5, 0.5, 0.5};
const std::vector<double> kBox = {4, 0, 0, 0, 4, 0, 0, 0, 4};
const std::vector<int> kTypes = {0, 1};

void print_metadata(const DeepModel& m) {
  std::printf("model_type: %s\ncutoff: %.17g\nntypes: %d\nhas_hessian: %d\ntype_map:",
              m.model_type().c_str(), m.cutoff(), m.ntypes(), m.has_hessian() ? 1 : 0);
  for (const auto& name : m.type_map()) std::printf(" %s", name.c_str());
  std::printf("\nsel:");
  for (int s : m.sel()) std::printf(" %d", s);
  std::printf("\nsel_type:");
  for (int t : m.sel_type()) std::printf(" %d", t);
  std::printf("\n");
}

int threads(const DeepModel& m) {
  const std::vector<double> want = *m.evaluate(kCoord, kBox, kTypes).outputs()[0].values;
  std::vector<std::vector<double>> got(4);
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < 5; ++r) got[t] = *m.evaluate(kCoord, kBox, kTypes).outputs()[0].values;
    });
  }
  for (auto& th : pool) th.join();
  for (const auto& g : got) {
    if (g != want) return 4;
  }
  std::printf("threads agree\n");
  return 0;
}

const std::map<std::string, std::function<void(const DeepModel&)>> kErrorCases = {
    {"coord-size", [](const DeepModel& m) { m.evaluate({0.0, 0.0, 0.0, 1.0}, {}, kTypes); }},
    {"box-size", [](const DeepModel& m) { m.evaluate(kCoord, {1.0, 2.0, 3.0}, kTypes); }},
    {"type-index", [](const DeepModel& m) { m.evaluate(kCoord, kBox, {0, m.ntypes()}); }},
    {"negative-type", [](const DeepModel& m) { m.evaluate(kCoord, kBox, {-1, 0}); }},
    {"no-atoms", [](const DeepModel& m) { m.evaluate({}, {}, {}); }},
    {"singular-box",
     [](const DeepModel& m) { m.evaluate(kCoord, {1, 0, 0, 2, 0, 0, 0, 0, 1}, kTypes); }},
    {"nan-coord",
     [](const DeepModel& m) { m.evaluate({0.0, 0.0, std::nan(""), 1, 1, 1}, {}, kTypes); }},
    {"hessian",
     [](const DeepModel& m) {
       EvalOptions opt;
       opt.hessian = true;
       m.evaluate(kCoord, kBox, kTypes, opt);
     }},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fputs("usage: dpt-api-check MODEL [CASE]\n", stderr);
    return 2;
  }
  const std::string kase = argc == 3 ? argv[2] : "";
  try {
    DeepModel model(argv[1]);
    DeepModel moved(std::move(model));  // the model is move-only: the move must keep it usable
    if (kase.empty()) {
      print_metadata(moved);
      return 0;
    }
    if (kase == "threads") return threads(moved);
    auto it = kErrorCases.find(kase);
    if (it == kErrorCases.end()) {
      std::fprintf(stderr, "unknown case %s\n", kase.c_str());
      return 2;
    }
    it->second(moved);
    std::printf("no error\n");
    return 0;
  } catch (const dptensor::Error& e) {
    std::printf("error: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    std::printf("other exception: %s\n", e.what());
    return 1;
  }
}
