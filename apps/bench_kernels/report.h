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
void write_json(const std::string& path, const RunInfo& info, const std::vector<Result>& results);

}  // namespace bench
