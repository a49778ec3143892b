// The workers' error files: each worker gets EMBER_ERROR_FILE in a fresh directory, where Ember
// programs write when and why they failed (dist::write_error_file); ember-run reads them to name
// the rank that failed first.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace ember_run {

// What a worker wrote to its error file: "<microseconds since the Unix epoch> <message>" (one line,
// see ember::dist::write_error_file); nullopt when it wrote none or something else.
struct ErrorRecord {
  int64_t time_us = 0;
  std::string message;
};
std::optional<ErrorRecord> read_error_file(const std::string& path);

// A fresh directory for the workers' error files, or "" and why not (then failures are ordered by
// when we reaped them).
std::string make_error_dir(std::string& why);

}  // namespace ember_run
