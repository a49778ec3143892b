// Checks and helpers shared by the op implementations (not installed).
#pragma once
#include <initializer_list>
#include <string>

#include <ember/autograd/node.h>
#include <ember/core/error.h>
#include <ember/core/tensor.h>

namespace ember::ops {

// "a: Tensor[2, 3] float32 cpu, b: ..." for error messages.
std::string describe(std::initializer_list<std::pair<const char*, const Tensor*>> tensors);

// All defined tensors on one device and of one dtype; throws naming the op and every operand.
void check_same_device_dtype(const char* op, std::initializer_list<std::pair<const char*, const Tensor*>> tensors);
void check_floating(const char* op, const Tensor& t);
void check_dim(const char* op, const Tensor& t, int64_t expected_dim, const char* layout);

// A new contiguous tensor of the given shape with t's dtype and device.
Tensor empty_as(const Tensor& t, const Shape& sizes);
// t broadcast to `sizes` as a stride-0 view (no autograd, no copy); errors name `op`.
Tensor broadcast_view(const Tensor& t, const Shape& sizes, const char* op);

}  // namespace ember::ops
