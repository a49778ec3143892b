// The safetensors format: u64 little-endian header length N, N bytes of JSON
// {name: {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...], "data_offsets": [begin, end]},
//  "__metadata__": {str: str}} padded with spaces to a multiple of 8, then the raw little-endian
// tensor bytes (offsets are relative to the end of the header).
#pragma once
#include <functional>
#include <map>
#include <string>

#include <ember/core/tensor.h>

namespace ember::data {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // on the CPU
  std::map<std::string, std::string> metadata;
};

// Writes atomically (core/atomic_file.h): a temporary file in the same folder, fsync, rename.
// Tensors may be on any device and strided; they are stored contiguous.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Called with the metadata once the header is validated, before any tensor data is read; it
// throws to refuse the file (so that a file of the wrong kind is not read whole first).
using MetadataCheck = std::function<void(const std::map<std::string, std::string>& metadata)>;

// Reads and validates everything, with one error line naming the file and the problem:
//  - only a regular file (a directory, device or FIFO is refused before it is opened);
//  - the header length at most 100 MB (the format's limit) and within the file; the header JSON is
//    checked against the schema as it is parsed (nesting of 3, at most 64 dimensions a tensor,
//    no duplicate names), and its entries may take at most its size plus 16 MB of memory;
//  - dtypes, shapes, data offsets within the file, contiguous and consistent with dtype * shape,
//    tiling the data section exactly;
// all before any tensor is allocated: reading takes about the file's size plus a constant.
SafetensorsFile load_safetensors(const std::string& path, const MetadataCheck& check_metadata = nullptr);
// The metadata of a file validated as load_safetensors validates it, without reading tensor data.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

}  // namespace ember::data
