#include <ember/data/safetensors.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/autograd/grad_mode.h>
#include <ember/core/error.h>

namespace ember::data {

namespace {

using nlohmann::json;

const char* dtype_code(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::UInt8: return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& code, DType* out) {
  static const std::pair<const char*, DType> known[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"I64", kInt64}, {"U8", kUInt8}};
  for (auto& [name, dtype] : known) {
    if (code == name) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

// Ember only runs on little-endian hosts (x86-64, aarch64), so tensor bytes are stored as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    EMBER_CHECK(n > 0, "save_safetensors: writing ", path, " failed: ", std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  NoGradGuard no_grad;
  json header = json::object();
  std::vector<Tensor> contents;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    EMBER_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
    EMBER_CHECK(tensor.defined(), "save_safetensors: tensor '", name, "' is undefined");
    Tensor host = tensor.detach().to(kCPU).contiguous();
    header[name] = {{"dtype", dtype_code(host.dtype())},
                    {"shape", host.sizes()},
                    {"data_offsets", {offset, offset + host.nbytes()}}};
    offset += host.nbytes();
    contents.push_back(host);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t header_size = text.size();

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EMBER_CHECK(fd >= 0, "save_safetensors: cannot create ", tmp, ": ", std::strerror(errno));
  try {
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header_size >> (8 * i));
    write_all(fd, length, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const Tensor& t : contents) write_all(fd, t.data_ptr(), t.nbytes(), tmp);
    EMBER_CHECK(::fsync(fd) == 0, "save_safetensors: fsync of ", tmp, " failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(tmp.c_str());
    EMBER_FAIL("save_safetensors: cannot rename ", tmp, " to ", path, ": ", std::strerror(error));
  }
  // Make the rename itself durable.
  int dir = ::open(directory_of(path).c_str(), O_RDONLY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EMBER_CHECK(bytes.size() >= 8, path, ": not a safetensors file: ", bytes.size(), " bytes, shorter than the 8-byte header length");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EMBER_CHECK(header_size <= bytes.size() - 8, path, ": header length ", header_size, " exceeds the file size (",
              bytes.size(), " bytes)");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const json::exception& e) {
    EMBER_FAIL(path, ": the safetensors header is not valid JSON: ", e.what());
  }
  EMBER_CHECK(header.is_object(), path, ": the safetensors header is not a JSON object");
  const char* data = bytes.data() + 8 + header_size;
  uint64_t data_size = bytes.size() - 8 - header_size;

  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      EMBER_CHECK(entry.is_object(), path, ": __metadata__ must be an object of strings");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        EMBER_CHECK(m.value().is_string(), path, ": __metadata__ value of '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    EMBER_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                    entry.contains("data_offsets"),
                path, ": tensor '", name, "' needs dtype, shape and data_offsets");
    DType dtype;
    EMBER_CHECK(entry["dtype"].is_string() && parse_dtype(entry["dtype"].get<std::string>(), &dtype), path,
                ": tensor '", name, "' has unsupported dtype ", entry["dtype"].dump(), " (Ember reads F32, F64, I64, U8)");
    const json& shape_json = entry["shape"];
    EMBER_CHECK(shape_json.is_array(), path, ": tensor '", name, "' has a non-array shape");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : shape_json) {
      EMBER_CHECK(d.is_number_unsigned(), path, ": tensor '", name, "' has an invalid dimension ", d.dump());
      uint64_t size = d.get<uint64_t>();
      EMBER_CHECK(size <= (uint64_t(1) << 40), path, ": tensor '", name, "' dimension ", size, " is too large");
      numel *= size;
      EMBER_CHECK(numel <= (uint64_t(1) << 48), path, ": tensor '", name, "' is too large");
      shape.push_back(static_cast<int64_t>(size));
    }
    const json& offsets = entry["data_offsets"];
    EMBER_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                    offsets[1].is_number_unsigned(),
                path, ": tensor '", name, "' needs data_offsets [begin, end]");
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    EMBER_CHECK(begin <= end && end <= data_size, path, ": tensor '", name, "' data_offsets [", begin, ", ", end,
                "] are outside the data section of ", data_size, " bytes");
    uint64_t expected = numel * element_size(dtype);
    EMBER_CHECK(end - begin == expected, path, ": tensor '", name, "' spans ", end - begin, " bytes but ",
                entry["dtype"].get<std::string>(), " ", shape_str(shape), " needs ", expected);
    ranges.emplace_back(begin, end);
    out.tensors[name] = from_blob(data + begin, shape, dtype);
  }
  // The tensors must tile the data section without overlap (as the format requires).
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (auto& [begin, end] : ranges) {
    EMBER_CHECK(begin == covered, path, ": tensor data ", begin == covered ? "" : (begin < covered ? "overlaps" : "has a gap"),
                " at byte ", std::min(begin, covered), " of the data section");
    covered = end;
  }
  EMBER_CHECK(covered == data_size, path, ": ", data_size - covered, " trailing bytes after the last tensor");
  return out;
}

}  // namespace ember::data
