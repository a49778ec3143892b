// The terminal table and the JSON file of a benchmark run.
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include "runner.h"
#include "timing.h"

namespace bench {

struct RunInfo {
  std::string device;       // "cuda" or "cpu"
  std::string description;  // the card or CPU
  std::string date;         // ISO 8601, UTC
  std::string command;      // the command line
  int warmup = 0, repeats = 0;
  int64_t cache_bytes = 0;
  Ceilings ceilings;
};

void print_header(std::ostream& out, const RunInfo& info);
void print_table_header(std::ostream& out);
void print_row(std::ostream& out, const Result& r);
// Failures and errors again, with their details, after the table.
void print_problems(std::ostream& out, const std::vector<Result>& results);
// Writes the JSON file: a regular file atomically (a temporary file in the same folder, flushed,
// then renamed over it); an existing device or pipe (/dev/stdout) in place. Every write and the
// close are checked: an error (a full disk) throws rather than leaving a partial or empty file.
void write_json(const std::string& path, const RunInfo& info, const std::vector<Result>& results);

}  // namespace bench
