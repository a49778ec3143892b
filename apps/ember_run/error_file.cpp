#include "error_file.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>

namespace ember_run {

std::optional<ErrorRecord> read_error_file(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const size_t space = line.find(' ');
  ErrorRecord record;
  const char* end = line.data() + std::min(space, line.size());
  auto [ptr, ec] = std::from_chars(line.data(), end, record.time_us);
  if (ec != std::errc() || ptr != end || space == std::string::npos) return std::nullopt;
  constexpr size_t kMaxMessage = 2000;  // the FAILED line stays readable
  record.message = line.substr(space + 1, kMaxMessage);
  return record;
}

std::string make_error_dir(std::string& why) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ember-run-XXXXXX";
  if (::mkdtemp(pattern.data()) != nullptr) return pattern;
  why = pattern + ": " + std::strerror(errno);
  return "";
}

}  // namespace ember_run
