#include <ember/data/idx.h>

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <ember/core/error.h>

namespace ember::data {

namespace {

bool is_gzip(const std::vector<uint8_t>& bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<uint8_t> gunzip(const std::string& path, const std::vector<uint8_t>& compressed) {
  z_stream stream;
  std::memset(&stream, 0, sizeof(stream));
  EMBER_CHECK(inflateInit2(&stream, 16 + MAX_WBITS) == Z_OK, path, ": cannot initialise zlib");
  std::vector<uint8_t> out;
  out.resize(std::max<size_t>(compressed.size() * 4, 1 << 16));
  stream.next_in = const_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (status == Z_OK) {
    if (stream.total_out == out.size()) out.resize(out.size() * 2);
    stream.next_out = out.data() + stream.total_out;
    stream.avail_out = static_cast<uInt>(out.size() - stream.total_out);
    status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended before the stream did
    if (status == Z_BUF_ERROR) status = Z_OK;                  // needs more output space
  }
  size_t produced = stream.total_out;
  std::string message = stream.msg ? stream.msg : "";
  inflateEnd(&stream);
  EMBER_CHECK(status == Z_STREAM_END, path, ": corrupt or truncated gzip data",
              message.empty() ? std::string() : " (" + message + ")");
  out.resize(produced);
  return out;
}

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EMBER_CHECK(!in.bad(), path, ": read error");
  if (is_gzip(bytes)) return gunzip(path, bytes);
  bool named_gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  EMBER_CHECK(!named_gz, path, ": not a gzip file (no 0x1f8b magic) although the name ends in .gz");
  return bytes;
}

Tensor read_idx(const std::string& path, uint32_t expected_magic) {
  std::vector<uint8_t> bytes = read_file_maybe_gzip(path);
  EMBER_CHECK(bytes.size() >= 4, path, ": truncated IDX file (", bytes.size(), " bytes, no header)");
  uint32_t magic = read_be32(bytes.data());
  EMBER_CHECK(magic == expected_magic, path, ": wrong IDX magic number ", hex(magic), ", expected ",
              hex(expected_magic));
  size_t ndims = magic & 0xff;
  size_t header = 4 + 4 * ndims;
  EMBER_CHECK(bytes.size() >= header, path, ": truncated IDX header (", bytes.size(), " bytes, need ", header,
              " for ", ndims, " dims)");
  Shape dims;
  uint64_t expected_payload = 1;
  for (size_t d = 0; d < ndims; ++d) {
    uint32_t size = read_be32(bytes.data() + 4 + 4 * d);
    dims.push_back(size);
    expected_payload *= size;
  }
  uint64_t payload = bytes.size() - header;
  EMBER_CHECK(payload == expected_payload, path, ": ",
              payload < expected_payload ? "truncated IDX data" : "trailing bytes after IDX data", ": header ",
              shape_str(dims), " needs ", expected_payload, " bytes, the file has ", payload);
  return from_blob(bytes.data() + header, dims, kUInt8);
}

void write_idx(const std::string& path, const Tensor& values, bool gzip) {
  EMBER_CHECK(values.dtype() == kUInt8 && values.dim() >= 1 && values.dim() <= 255,
              "write_idx: expected a uint8 tensor of 1..255 dims, got ", values.str());
  std::vector<uint8_t> bytes;
  put_be32(bytes, 0x00000800u | static_cast<uint32_t>(values.dim()));
  for (int64_t s : values.sizes()) put_be32(bytes, static_cast<uint32_t>(s));
  std::vector<uint8_t> data = values.to_vector<uint8_t>();
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (gzip) {
    gzFile file = gzopen(path.c_str(), "wb");
    EMBER_CHECK(file != nullptr, "write_idx: cannot create ", path);
    int written = gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    int closed = gzclose(file);
    EMBER_CHECK(written == static_cast<int>(bytes.size()) && closed == Z_OK, "write_idx: cannot write ", path);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EMBER_CHECK(out.good(), "write_idx: cannot write ", path);
}

}  // namespace ember::data
