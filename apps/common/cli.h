// Command-line helpers the apps share (train_mnist, bench_kernels, ember-run), on CLI11 alone
// (ember-run does not link the Ember library): validators whose refusals are one short line
// (CLI11's own print DBL_MAX for open ranges, let NaN through and wrap "-1" into an unsigned),
// and the parse call that turns any error into "PROGRAM: <what> (see --help)" and exit code 2.
#pragma once
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace ember::cli {

// A whole string of decimal digits (no sign, no spaces) that fits in T.
enum class Digits { Ok, NotDigits, TooLarge };
template <typename T>
Digits parse_digits(const std::string& text, T& value) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
    return Digits::NotDigits;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return Digits::TooLarge;
  return error == std::errc() && end == text.data() + text.size() ? Digits::Ok : Digits::NotDigits;
}

// The whole of text as a finite number, or nothing.
inline std::optional<double> parse_finite(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// A finite number in [low, high].
inline CLI::Validator number_in(double low, double high) {
  auto bound = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const std::string range = "[" + bound(low) + ", " + bound(high) + "]";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const std::optional<double> v = parse_finite(text);
        if (v && *v >= low && *v <= high) return "";
        return "'" + text + "' is not a number in " + range;
      },
      range);
}

// A finite number > 0.
inline CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::optional<double> v = parse_finite(text);
        return v && *v > 0 ? "" : "'" + text + "' is not a positive number";
      },
      "POSITIVE");
}

// A whole number in [low, high], written in decimal digits with an optional '-'.
inline CLI::Validator integer_in(int64_t low, int64_t high) {
  return CLI::Validator(
      [low, high](std::string& text) -> std::string {
        int64_t value = 0;
        const bool negative = !text.empty() && text[0] == '-';
        const Digits d = parse_digits(negative ? text.substr(1) : text, value);
        if (d == Digits::Ok && (negative ? -value : value) >= low && (negative ? -value : value) <= high) return "";
        return "'" + text + "' is not a whole number from " + std::to_string(low) + " to " + std::to_string(high);
      },
      "[" + std::to_string(low) + ", " + std::to_string(high) + "]");
}

// A whole number in [0, 2^64) in decimal digits.
inline CLI::Validator unsigned_64() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        if (parse_digits(text, value) == Digits::Ok) return "";
        return "'" + text + "' is not a whole number in [0, 2^64)";
      },
      "UINT64");
}

inline CLI::Validator non_empty(const std::string& what) {
  return CLI::Validator([what](std::string& text) { return text.empty() ? what + " is empty" : std::string(); },
                        "TEXT");
}

// app.parse; nullopt to go on, else the exit code: 0 after --help, 2 after an error, printed as
// one line "program: <what> (see --help)". describe may say better what went wrong than CLI11.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv, const char* program,
                                const std::function<std::string(const CLI::ParseError&)>& describe = nullptr) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string what = describe ? describe(e) : std::string(e.what());
    std::fprintf(stderr, "%s: %s (see --help)\n", program, what.c_str());
    return 2;
  }
  return std::nullopt;
}

}  // namespace ember::cli
