// ember::Error: the one exception type of the library, with a message that carries context
// (op name, shapes, dtypes, devices, file:line for failed runtime calls).
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

namespace detail {
int64_t unix_time_us();  // the wall clock, in microseconds since the Unix epoch
}  // namespace detail

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what), unix_time_us_(detail::unix_time_us()) {}
  // When the error was raised (not when it was caught: unwinding to a handler may already have closed
  // the sockets of a process group, so peers fail meanwhile). ember-run orders the failures of
  // several ranks by it (see dist::write_error_file).
  int64_t unix_time_us() const { return unix_time_us_; }

 private:
  int64_t unix_time_us_;
};

namespace detail {
// Streams every argument into one string: make_message("shape ", s, " vs ", t).
template <typename... Args>
std::string make_message(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace ember

// EMBER_CHECK(cond, parts...): throws ember::Error with the streamed message when cond is false.
#define EMBER_CHECK(cond, ...)                                                              \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      ::ember::detail::throw_error(__FILE__, __LINE__, ::ember::detail::make_message(__VA_ARGS__)); \
    }                                                                                       \
  } while (0)

#define EMBER_FAIL(...) \
  ::ember::detail::throw_error(__FILE__, __LINE__, ::ember::detail::make_message(__VA_ARGS__))
