// DType: the element types a tensor can hold, and dispatch from a runtime dtype to a C++ type.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>

#include <ember/core/error.h>

namespace ember {

enum class DType : uint8_t { Float32, Float64, Int64, UInt8 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kUInt8 = DType::UInt8;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t == DType::Float32 || t == DType::Float64; }

inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };

// dispatch_floating(dtype, "op", [&](auto tag) { using T = decltype(tag); ... })
// calls the lambda with a value of float or double; other dtypes raise an error naming the op.
template <typename F>
decltype(auto) dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default: EMBER_FAIL(op, ": expected a floating dtype (float32 or float64), got ", dtype_name(t));
  }
}

// dispatch_all: every dtype Ember knows.
template <typename F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::UInt8: return f(uint8_t{});
  }
  EMBER_FAIL(op, ": unknown dtype");
}

}  // namespace ember
