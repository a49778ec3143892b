// The family registry: cases_<family>.cpp files add themselves, so a family is one file.
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "bench_case.h"

namespace bench {
namespace {
// Function-local so registration from other translation units never sees it unconstructed.
std::map<std::string, CaseBuilder>& builders() {
  static std::map<std::string, CaseBuilder> registry;
  return registry;
}

// The order the table lists families in; families not named here follow alphabetically.
const char* const kFamilyOrder[] = {"elementwise", "broadcast", "copy", "reduce", "softmax", "cross_entropy",
                                    "pool", "fused", "optim", "gemm", "conv"};
}  // namespace

bool register_family(const std::string& family, CaseBuilder builder) {
  builders()[family] = std::move(builder);
  return true;
}

std::vector<BenchCase> build_cases(const CaseOptions& options) {
  std::vector<BenchCase> cases;
  std::map<std::string, CaseBuilder> remaining = builders();
  for (const char* family : kFamilyOrder) {
    auto it = remaining.find(family);
    if (it == remaining.end()) continue;
    it->second(options, cases);
    remaining.erase(it);
  }
  for (auto& [family, builder] : remaining) builder(options, cases);
  // Sizes that map to one shape (small --sizes round up to a whole row, plane or parameter list, and
  // --sizes may repeat) would time the same workload twice: keep the first of each kernel, shape and
  // size (the shape alone is not enough: an optimizer case's "16 params" holds any total size).
  std::set<std::tuple<std::string, std::string, int64_t>> seen;
  cases.erase(std::remove_if(cases.begin(), cases.end(),
                             [&](const BenchCase& c) { return !seen.insert({c.name, c.shape, c.size}).second; }),
              cases.end());
  return cases;
}

}  // namespace bench
