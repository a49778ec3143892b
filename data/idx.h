// The IDX format of the MNIST files: a big-endian header (magic 0x000008NN: unsigned bytes, NN
// dims; then one u32 per dim) followed by exactly prod(dims) bytes. Files may be gzip-compressed
// (detected by the 0x1f8b magic, not by the name), also as several concatenated gzip members
// (RFC 1952); bytes after the last member other than zero padding are refused.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ember/core/tensor.h>

namespace ember::data {

inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // uint8, 1 dim
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // uint8, 3 dims

// The whole file, decompressed when it is gzip. Throws one line naming the file when it is
// missing, unreadable, or a corrupt/truncated gzip stream (or has trailing garbage after it).
std::vector<uint8_t> read_file_maybe_gzip(const std::string& path);

// Reads an IDX file and checks its magic (expected_magic) and that the payload is exactly
// prod(dims) bytes (a product past int64 is refused). A gzip file is inflated header first, then only
// up to the payload the header declares (a longer stream is refused without inflating the rest), so
// memory stays within the declared size. Returns a uint8 tensor of shape dims.
Tensor read_idx(const std::string& path, uint32_t expected_magic);

// Writes an uncompressed (or gzip when gzip is true) IDX file of a uint8 tensor: for tests and tools.
void write_idx(const std::string& path, const Tensor& values, bool gzip = false);

}  // namespace ember::data
