#include "report.h"

#include <cstdio>
#include <iomanip>

#include <ember/core/atomic_file.h>

#include <nlohmann/json.hpp>

namespace bench {
namespace {

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

// Sizes as powers of two where they are one ("2^20"), else plain.
std::string size_label(int64_t size) {
  if (size > 0 && (size & (size - 1)) == 0 && size >= 1024) {
    int log2 = 0;
    while ((int64_t(1) << log2) < size) ++log2;
    return "2^" + std::to_string(log2);
  }
  return std::to_string(size);
}

const int kNameWidth = 26, kShapeWidth = 34, kSizeWidth = 8, kTimeWidth = 12, kRateWidth = 16, kPctWidth = 8;

}  // namespace

void print_header(std::ostream& out, const RunInfo& info) {
  out << "bench_kernels on " << info.device << ": " << info.description << "\n"
      << "date " << info.date << ", warmup " << info.warmup << ", repeats " << info.repeats
      << " (median), workloads rotated over > 2x " << (info.cache_bytes >> 20) << " MiB of cache\n"
      << "ceiling copy:  " << fixed(info.ceilings.copy_gbps, 1) << " GB/s   (" << info.ceilings.copy_what << ")\n"
      << "ceiling sgemm: " << fixed(info.ceilings.sgemm_tflops, 3) << " TFLOP/s (" << info.ceilings.sgemm_what
      << ")\n\n";
}

void print_table_header(std::ostream& out) {
  out << std::left << std::setw(kNameWidth) << "kernel" << std::setw(kShapeWidth) << "shape" << std::right
      << std::setw(kSizeWidth) << "size" << std::setw(kTimeWidth) << "time us" << std::setw(kRateWidth) << "rate"
      << std::setw(kPctWidth) << "% ceil" << "  check\n"
      << std::string(kNameWidth + kShapeWidth + kSizeWidth + kTimeWidth + kRateWidth + kPctWidth + 7, '-') << "\n";
}

void print_row(std::ostream& out, const Result& r) {
  out << std::left << std::setw(kNameWidth) << r.name << std::setw(kShapeWidth) << r.shape << std::right
      << std::setw(kSizeWidth) << size_label(r.size);
  if (r.check == "ERROR") {
    out << std::setw(kTimeWidth + kRateWidth + kPctWidth) << "-" << "  ERROR\n";
    return;
  }
  std::string rate = r.bound == Bound::Bandwidth ? fixed(r.rate, 1) + " GB/s" : fixed(r.rate, 3) + " TFLOP/s";
  out << std::setw(kTimeWidth) << fixed(r.median_us, r.median_us < 100 ? 2 : 1) << std::setw(kRateWidth) << rate
      << std::setw(kPctWidth) << fixed(r.percent, 1) << "  " << r.check << "\n";
}

void print_problems(std::ostream& out, const std::vector<Result>& results) {
  bool any = false;
  for (const Result& r : results) {
    if (r.detail.empty()) continue;
    if (!any) out << "\nproblems:\n";
    any = true;
    out << "  " << r.name << " " << r.shape << ": " << r.check << ": " << r.detail << "\n";
  }
}

void write_json(const std::string& path, const RunInfo& info, const std::vector<Result>& results) {
  nlohmann::json doc;
  doc["device"] = info.device;
  doc["description"] = info.description;
  doc["date"] = info.date;
  doc["command"] = info.command;
  doc["warmup"] = info.warmup;
  doc["repeats"] = info.repeats;
  doc["cache_bytes"] = info.cache_bytes;
  doc["ceilings"] = {{"copy_gbps", info.ceilings.copy_gbps},
                     {"copy", info.ceilings.copy_what},
                     {"sgemm_tflops", info.ceilings.sgemm_tflops},
                     {"sgemm", info.ceilings.sgemm_what}};
  nlohmann::json rows = nlohmann::json::array();
  for (const Result& r : results) {
    nlohmann::json row = {{"kernel", r.name},
                          {"family", r.family},
                          {"shape", r.shape},
                          {"size", r.size},
                          {"bound", r.bound == Bound::Bandwidth ? "bandwidth" : "compute"},
                          {"bytes", r.bytes},
                          {"flops", r.flops},
                          {"median_us", r.median_us},
                          {"min_us", r.min_us},
                          {"sets", r.sets},
                          {"repeats", r.repeats},
                          {"check", r.check}};
    if (r.bound == Bound::Bandwidth) {
      row["gbps"] = r.rate;
      row["percent_of_copy"] = r.percent;
    } else {
      row["tflops"] = r.rate;
      row["percent_of_sgemm"] = r.percent;
    }
    if (!r.detail.empty()) row["detail"] = r.detail;
    rows.push_back(std::move(row));
  }
  doc["results"] = std::move(rows);
  // The command line is argv, bytes that need not be UTF-8 (a file name): dump() would throw on them
  // and lose every result, so invalid bytes become U+FFFD.
  const std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  ember::write_file_atomically(path, text + "\n", "--json");
}

}  // namespace bench
