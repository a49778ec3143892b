#include <ember/core/memory_overlap.h>

#include <algorithm>
#include <numeric>

#include <ember/core/error.h>

namespace ember {

bool is_non_overlapping_and_dense(const Tensor& t) {
  // Walk the dims from the smallest stride up: each (of size > 1) must step over exactly the
  // elements of the dims below it.
  const int64_t n = t.dim();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return t.strides()[a] < t.strides()[b]; });
  int64_t expected = 1;
  for (int64_t d : order) {
    const int64_t size = t.sizes()[d];
    if (size == 1) continue;
    if (t.strides()[d] != expected) return false;
    expected *= size;
  }
  return true;
}

void check_no_internal_overlap(const Tensor& t, const char* op) {
  for (int64_t d = 0; d < t.dim(); ++d)
    EMBER_CHECK(t.strides()[d] != 0 || t.sizes()[d] <= 1, op,
                ": unsupported operation: more than one element of the written-to tensor ", t.str(),
                " refers to a single memory location (dim ", d, " has stride 0); clone() it first");
}

void check_no_partial_overlap(const Tensor& written, const Tensor& input, const char* op) {
  if (written.storage() != input.storage() || written.numel() == 0 || input.numel() == 0) return;
  if (!is_non_overlapping_and_dense(written) || !is_non_overlapping_and_dense(input)) return;
  const int64_t written_end = written.offset() + written.numel(), input_end = input.offset() + input.numel();
  const bool intersect = written.offset() < input_end && input.offset() < written_end;
  const bool same_view = written.offset() == input.offset() && written.sizes() == input.sizes() &&
                         written.strides() == input.strides();
  EMBER_CHECK(!intersect || same_view, op, ": unsupported operation: some elements of the input ", input.str(),
              " and the written-to tensor ", written.str(),
              " refer to a single memory location; clone() the input first");
}

}  // namespace ember
