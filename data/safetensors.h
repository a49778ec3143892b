// The safetensors format: u64 little-endian header length N, N bytes of JSON
// {name: {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...], "data_offsets": [begin, end]},
//  "__metadata__": {str: str}} padded with spaces to a multiple of 8, then the raw little-endian
// tensor bytes (offsets are relative to the end of the header).
#pragma once
#include <map>
#include <string>

#include <ember/core/tensor.h>

namespace ember::data {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // on the CPU
  std::map<std::string, std::string> metadata;
};

// Writes atomically: a temporary file in the same directory, fsync, rename over `path`.
// Tensors may be on any device and strided; they are stored contiguous.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates everything (header length against the file size, JSON syntax, dtypes,
// shapes, offsets in range, contiguous and consistent with dtype * shape); one error line naming
// the file and the problem.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ember::data
