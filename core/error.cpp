#include <ember/core/error.h>

#include <chrono>

namespace ember::detail {

int64_t unix_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Library errors read as "message"; the source location is kept for debugging builds only,
// so that a user sees one clean line.
void throw_error(const char* file, int line, const std::string& message) {
#ifndef NDEBUG
  throw Error(message + " [" + file + ":" + std::to_string(line) + "]");
#else
  (void)file;
  (void)line;
  throw Error(message);
#endif
}

}  // namespace ember::detail
