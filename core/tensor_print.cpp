// operator<< for Tensor: a header line, then the values as nested bracketed rows, as PyTorch
// prints them. Large tensors are summarised: past kSummariseAbove elements each dim shows its
// first and last kEdgeItems entries around "...".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember {

namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;

// How the values of one tensor are written: integers exactly; floating values with 4 decimals,
// or in scientific notation when the largest is >= 1e8 or the smallest nonzero < 1e-4.
struct Values {
  std::vector<double> floating;  // row-major, floating dtypes
  std::vector<int64_t> integer;  // row-major, integer dtypes (read exactly, not through double)
  bool scientific = false;

  explicit Values(const Tensor& t) {
    if (!is_floating(t.dtype())) {
      integer = t.to_vector<int64_t>();
      return;
    }
    floating = t.to_vector<double>();
    double largest = 0, smallest_nonzero = INFINITY;
    for (double v : floating) {
      if (!std::isfinite(v)) continue;
      largest = std::max(largest, std::abs(v));
      if (v != 0) smallest_nonzero = std::min(smallest_nonzero, std::abs(v));
    }
    scientific = largest >= 1e8 || smallest_nonzero < 1e-4;
  }

  std::string text(int64_t i) const {
    if (!integer.empty()) return std::to_string(integer[static_cast<size_t>(i)]);
    const double v = floating[static_cast<size_t>(i)];
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, scientific ? "%.4e" : "%.4f", v);
    return buffer;
  }
};

// The indices of a dim that are shown: all, or the first and last kEdgeItems (-1 marks "...").
std::vector<int64_t> shown_indices(int64_t size, bool summarise) {
  std::vector<int64_t> shown;
  if (!summarise || size <= 2 * kEdgeItems) {
    for (int64_t i = 0; i < size; ++i) shown.push_back(i);
  } else {
    for (int64_t i = 0; i < kEdgeItems; ++i) shown.push_back(i);
    shown.push_back(-1);
    for (int64_t i = size - kEdgeItems; i < size; ++i) shown.push_back(i);
  }
  return shown;
}

class Printer {
 public:
  Printer(const Tensor& t, const Values& values) : sizes_(t.sizes()), values_(values) {
    const bool summarise = t.numel() > kSummariseAbove;
    for (int64_t size : sizes_) shown_.push_back(shown_indices(size, summarise));
    visit(0, 0, [this](int64_t i) { width_ = std::max(width_, values_.text(i).size()); });
  }

  // Dim d of the block starting at element `base`; `indent` is the column of its '['. Rows of
  // the last dim stay on one line; a new block of dim d starts after sizes - d - 1 newlines.
  void print(std::ostream& os, size_t d, int64_t base, size_t indent) const {
    os << '[';
    bool first = true;
    for (int64_t i : shown_[d]) {
      if (!first) {
        os << ',';
        if (d + 1 == sizes_.size()) os << ' ';
        else os << std::string(sizes_.size() - d - 1, '\n') << std::string(indent + 1, ' ');
      }
      first = false;
      if (i < 0) {
        os << "...";
      } else if (d + 1 == sizes_.size()) {
        const std::string text = values_.text(base + i);
        os << std::string(width_ - text.size(), ' ') << text;
      } else {
        print(os, d + 1, base + i * block(d), indent + 1);
      }
    }
    os << ']';
  }

 private:
  // Elements in one entry of dim d.
  int64_t block(size_t d) const {
    int64_t n = 1;
    for (size_t k = d + 1; k < sizes_.size(); ++k) n *= sizes_[k];
    return n;
  }
  // fn(flat index) for every shown element of the block of dim d at `base`.
  template <typename F>
  void visit(size_t d, int64_t base, F fn) const {
    for (int64_t i : shown_[d]) {
      if (i < 0) continue;
      if (d + 1 == sizes_.size()) fn(base + i);
      else visit(d + 1, base + i * block(d), fn);
    }
  }

  const Shape& sizes_;
  const Values& values_;
  std::vector<std::vector<int64_t>> shown_;  // per dim
  size_t width_ = 0;                          // of the widest shown value: columns line up
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  os << t.str();
  if (!t.defined()) return os;
  if (t.requires_grad()) os << ", requires_grad";
  const Values values(t);
  os << '\n';
  if (t.dim() == 0) return os << values.text(0);
  if (t.numel() == 0) return os << "[]";
  Printer(t, values).print(os, 0, 0, 0);
  return os;
}

}  // namespace ember
