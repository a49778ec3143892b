// The family registry: cases_<family>.cpp files add themselves, so a family is one file.
#include <map>

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
  return cases;
}

}  // namespace bench
