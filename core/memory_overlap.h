// Whether tensors share memory in ways an in-place write cannot handle, as PyTorch judges it:
//  - internal overlap: two elements of the written tensor are one memory location (a stride-0,
//    expanded dim), so the result would depend on the order of the writes;
//  - partial overlap: the written tensor and an input cover some of the same memory but not as
//    the same view, so an element can be read after another element's write changed it.
// Only layouts that are cheap to judge are refused: a non-dense view (a column of a matrix) may
// interleave with another without sharing an element, and is let through, as in PyTorch.
#pragma once
#include <ember/core/tensor.h>

namespace ember {

// No two elements share memory and together they fill one interval of the storage (some
// permutation of a contiguous layout).
bool is_non_overlapping_and_dense(const Tensor& t);

// Throws "<op>: unsupported operation: ..." when t has a dim of stride 0 and size > 1.
void check_no_internal_overlap(const Tensor& t, const char* op);

// Throws when `written` and `input` are dense views of one storage whose intervals intersect,
// unless they are the same view (each element then reads itself before its own write).
void check_no_partial_overlap(const Tensor& written, const Tensor& input, const char* op);

}  // namespace ember
