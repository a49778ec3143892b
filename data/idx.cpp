#include <ember/data/idx.h>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>

#include <ember/core/error.h>

namespace ember::data {

namespace {

bool is_gzip(const uint8_t* p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

// Inflates a gzip file held in memory into pieces of the caller's size, member after member
// (RFC 1952: `cat a.gz b.gz` is one valid file), so that a reader takes only as much as it wants:
// the IDX reader checks the header before it inflates the rest. zlib counts in 32-bit uInt, so both
// sides are handed at most UINT_MAX bytes at a time.
class Gunzip {
 public:
  Gunzip(const std::string& path, const std::vector<uint8_t>& compressed) : path_(path), in_(compressed) {
    std::memset(&stream_, 0, sizeof(stream_));
    EMBER_CHECK(inflateInit2(&stream_, 16 + MAX_WBITS) == Z_OK, path_, ": cannot initialise zlib");
  }
  ~Gunzip() { inflateEnd(&stream_); }
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  // Writes up to n bytes to dst; fewer only when the data (the last member) ends.
  size_t read(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n && !finished_) {
      if (stream_.avail_in == 0 && fed_ < in_.size()) {
        size_t chunk = std::min<size_t>(in_.size() - fed_, UINT_MAX);
        stream_.next_in = const_cast<Bytef*>(in_.data() + fed_);
        stream_.avail_in = static_cast<uInt>(chunk);
        fed_ += chunk;
      }
      uInt room = static_cast<uInt>(std::min<size_t>(n - done, UINT_MAX));
      stream_.next_out = dst + done;
      stream_.avail_out = room;
      int status = inflate(&stream_, Z_NO_FLUSH);
      done += room - stream_.avail_out;
      if (status == Z_STREAM_END) {
        next_member();
      } else if (status == Z_BUF_ERROR && stream_.avail_in == 0 && fed_ == in_.size()) {
        EMBER_FAIL(path_, ": corrupt or truncated gzip data (the file ends inside gzip member ", member_, ")");
      } else if (status != Z_OK) {  // with input and output room, Z_BUF_ERROR cannot happen: fail, not spin
        EMBER_FAIL(path_, ": corrupt or truncated gzip data in member ", member_,
                   stream_.msg ? std::string(" (") + stream_.msg + ")" : std::string());
      }
    }
    return done;
  }

 private:
  // After a member's end: another member follows (its 0x1f8b magic), or the file ends, possibly
  // in zero bytes (tape-style padding, which gunzip and Python's gzip accept); anything else is
  // refused rather than ignored.
  void next_member() {
    size_t consumed = fed_ - stream_.avail_in;
    size_t rest = in_.size() - consumed;
    if (std::all_of(in_.begin() + static_cast<std::ptrdiff_t>(consumed), in_.end(), [](uint8_t b) { return b == 0; })) {
      finished_ = true;
      return;
    }
    EMBER_CHECK(is_gzip(in_.data() + consumed, rest), path_, ": trailing garbage after the gzip data (", rest,
                " bytes after member ", member_, " that do not start another gzip member)");
    EMBER_CHECK(inflateReset(&stream_) == Z_OK, path_, ": cannot reset zlib for gzip member ", member_ + 1);
    ++member_;
  }

  const std::string& path_;
  const std::vector<uint8_t>& in_;
  z_stream stream_;
  size_t fed_ = 0;  // bytes of in_ handed to zlib so far
  int member_ = 1;
  bool finished_ = false;
};

// The bytes prod(dims) of an IDX payload, or why a tensor cannot hold that many (the dims are u32,
// so their product can pass 2^64 and wrap).
bool payload_bytes(const Shape& dims, uint64_t* bytes, std::string* too_many) {
  uint64_t product = 1;
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(product, static_cast<uint64_t>(d), &product)) {
      *too_many = "more than " + std::to_string(std::numeric_limits<uint64_t>::max());
      return false;
    }
  }
  if (product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *too_many = std::to_string(product);
    return false;
  }
  *bytes = product;
  return true;
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

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EMBER_CHECK(!in.bad(), path, ": read error");
  return bytes;
}

bool named_gz(const std::string& path) { return path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0; }

// Reads `want` bytes into `out` (appended) in pieces of at most 64 MiB, so that memory grows with the
// data actually inflated, not with a size a header claims. Returns the bytes read (fewer at the end).
size_t read_into(Gunzip& gz, std::vector<uint8_t>& out, uint64_t want) {
  constexpr size_t kPiece = size_t(64) << 20;
  size_t start = out.size();
  while (out.size() - start < want) {
    size_t have = out.size();
    size_t piece = static_cast<size_t>(std::min<uint64_t>(want - (have - start), kPiece));
    out.resize(have + piece);
    size_t got = gz.read(out.data() + have, piece);
    out.resize(have + got);
    if (got < piece) break;
  }
  return out.size() - start;
}

}  // namespace

std::vector<uint8_t> read_file_maybe_gzip(const std::string& path) {
  std::vector<uint8_t> bytes = read_whole_file(path);
  if (is_gzip(bytes.data(), bytes.size())) {
    Gunzip gz(path, bytes);
    std::vector<uint8_t> out;
    read_into(gz, out, std::numeric_limits<uint64_t>::max());
    return out;
  }
  EMBER_CHECK(!named_gz(path), path, ": not a gzip file (no 0x1f8b magic) although the name ends in .gz");
  return bytes;
}

Tensor read_idx(const std::string& path, uint32_t expected_magic) {
  std::vector<uint8_t> file = read_whole_file(path);
  bool gzip = is_gzip(file.data(), file.size());
  EMBER_CHECK(gzip || !named_gz(path), path, ": not a gzip file (no 0x1f8b magic) although the name ends in .gz");
  // A gzip file is inflated piece by piece: the header first, then only the payload it declares.
  std::unique_ptr<Gunzip> gz = gzip ? std::make_unique<Gunzip>(path, file) : nullptr;
  std::vector<uint8_t> bytes;
  auto fill = [&](size_t size) {  // makes bytes hold at least `size` bytes where the data has them
    if (!gzip) return;
    if (bytes.size() < size) read_into(*gz, bytes, size - bytes.size());
  };
  const std::vector<uint8_t>& data = gzip ? bytes : file;
  fill(4);
  EMBER_CHECK(data.size() >= 4, path, ": truncated IDX file (", data.size(), " bytes, no header)");
  uint32_t magic = read_be32(data.data());
  EMBER_CHECK(magic == expected_magic, path, ": wrong IDX magic number ", hex(magic), ", expected ",
              hex(expected_magic));
  size_t ndims = magic & 0xff;
  size_t header = 4 + 4 * ndims;
  fill(header);
  EMBER_CHECK(data.size() >= header, path, ": truncated IDX header (", data.size(), " bytes, need ", header,
              " for ", ndims, " dims)");
  Shape dims;
  for (size_t d = 0; d < ndims; ++d) dims.push_back(read_be32(data.data() + 4 + 4 * d));
  uint64_t expected_payload = 0;
  std::string too_many;
  EMBER_CHECK(payload_bytes(dims, &expected_payload, &too_many), path, ": IDX header ", shape_str(dims),
              " declares ", too_many, " bytes, more than a tensor can hold (2^63 - 1 elements)");
  fill(header + expected_payload);
  uint64_t payload = data.size() - header;
  EMBER_CHECK(payload >= expected_payload, path, ": truncated IDX data: header ", shape_str(dims), " needs ",
              expected_payload, " bytes, the ", gzip ? "decompressed data has " : "file has ", payload);
  if (gzip) {
    uint8_t extra;
    EMBER_CHECK(gz->read(&extra, 1) == 0, path, ": trailing bytes after IDX data: header ", shape_str(dims),
                " needs ", expected_payload, " bytes, the decompressed data has more");
  }
  EMBER_CHECK(payload == expected_payload, path, ": trailing bytes after IDX data: header ", shape_str(dims),
              " needs ", expected_payload, " bytes, the file has ", payload);
  return from_blob(data.data() + header, dims, kUInt8);
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
    bool ok = true;  // gzwrite takes an unsigned count and returns an int: write in pieces below INT_MAX
    for (size_t at = 0; ok && at < bytes.size();) {
      unsigned piece = static_cast<unsigned>(std::min<size_t>(bytes.size() - at, size_t(1) << 30));
      ok = gzwrite(file, bytes.data() + at, piece) == static_cast<int>(piece);
      at += piece;
    }
    int closed = gzclose(file);
    EMBER_CHECK(ok && closed == Z_OK, "write_idx: cannot write ", path);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EMBER_CHECK(out.good(), "write_idx: cannot write ", path);
}

}  // namespace ember::data
