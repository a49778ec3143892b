#include <ember/data/safetensors.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <set>
#include <streambuf>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include <ember/autograd/grad_mode.h>
#include <ember/core/atomic_file.h>
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

  write_file_atomically(
      path,
      [&](const ByteSink& sink) {
        unsigned char length[8];
        for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header_size >> (8 * i));
        sink(length, 8);
        sink(text.data(), text.size());
        for (const Tensor& t : contents) sink(t.data_ptr(), t.nbytes());
      },
      "save_safetensors");
}

namespace {

// Limits of what load_safetensors reads: the header as the safetensors format bounds it (100 MB);
// the JSON nesting a valid header needs (root object, entry object, shape array); the dimensions
// of a tensor; and the memory its parsed entries may take, charged as they are read: the header's
// own size plus 16 MB (so that reading a file takes about its size plus a constant, whatever the
// header holds).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr size_t kMaxDepth = 3;
constexpr size_t kMaxDims = 64;
constexpr uint64_t kHeaderSlack = 16ull << 20;
constexpr uint64_t kEntryOverhead = 128;  // a map node, a string's heap block, a vector
constexpr uint64_t kMaxNumel = uint64_t(1) << 48;

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Reads exactly size bytes at offset; a short file (truncated while being read) is an error.
void read_exactly(int fd, void* into, uint64_t size, uint64_t offset, const std::string& path) {
  char* p = static_cast<char*>(into);
  while (size > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, 1u << 30));
    ssize_t n = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    EMBER_CHECK(n >= 0, path, ": read failed at byte ", offset, ": ", std::strerror(errno));
    EMBER_CHECK(n > 0, path, ": unexpected end of file at byte ", offset, " (was it truncated while being read?)");
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<uint64_t>(n);
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The header bytes [begin, end) of the file, through a small buffer (the JSON is parsed as it
// is read, never held whole). A failed read ends the stream and leaves its message in error.
class HeaderStreambuf : public std::streambuf {
 public:
  HeaderStreambuf(int fd, uint64_t begin, uint64_t end, const std::string& path)
      : fd_(fd), pos_(begin), end_(end), path_(path) {}
  std::string error;

 protected:
  int_type underflow() override {
    if (pos_ >= end_ || !error.empty()) return traits_type::eof();
    size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buffer_), end_ - pos_));
    try {
      read_exactly(fd_, buffer_, want, pos_, path_);
    } catch (const Error& e) {
      error = e.what();
      return traits_type::eof();
    }
    pos_ += want;
    setg(buffer_, buffer_, buffer_ + want);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  int fd_;
  uint64_t pos_, end_;
  const std::string& path_;
  char buffer_[1 << 16];
};

// The first pass over the header: JSON syntax only, in constant memory (no document is built), so
// that a malformed header is reported as such before its contents are judged.
class SyntaxCheck : public nlohmann::json_sax<json> {
 public:
  SyntaxCheck(const std::string& path, const HeaderStreambuf& input) : path_(path), input_(input) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return --depth_, true; }
  bool key(string_t&) override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (!input_.error.empty()) EMBER_FAIL(input_.error);
    EMBER_FAIL(path_, ": the safetensors header is not valid JSON: ", e.what());
  }

 private:
  // The parser keeps state for every open level: stop at once where a header cannot be valid.
  bool open() {
    EMBER_CHECK(++depth_ <= kMaxDepth, path_, ": the safetensors header nests deeper than ", kMaxDepth, " levels");
    return true;
  }

  const std::string& path_;
  const HeaderStreambuf& input_;
  size_t depth_ = 0;
};

struct Entry {
  std::string name;
  DType dtype = kUInt8;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// Checks the header against the safetensors schema while it is parsed (SAX: no JSON document is
// built) and keeps only the metadata and one Entry per tensor. Each problem throws one error
// naming the file.
class HeaderReader : public nlohmann::json_sax<json> {
 public:
  HeaderReader(const std::string& path, uint64_t header_size, uint64_t data_size, const HeaderStreambuf& input,
               std::map<std::string, std::string>& metadata, std::vector<Entry>& entries)
      : path_(path), budget_(header_size + kHeaderSlack), data_size_(data_size), input_(input),
        metadata_(metadata), entries_(entries) {}

  bool null() override { return value(Kind::Other, "null"); }
  bool boolean(bool v) override { return value(Kind::Other, v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return value(Kind::Other, std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(Kind::Unsigned, std::to_string(v), v); }
  bool number_float(number_float_t, const string_t& text) override { return value(Kind::Other, text); }
  bool string(string_t& v) override { return value(Kind::String, v); }
  bool binary(binary_t&) override { return value(Kind::Other, "<binary>"); }

  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }

  bool key(string_t& k) override {
    if (state() == State::Entry) {
      EMBER_CHECK(seen_fields_.insert(k).second, path_, ": tensor '", entry_.name, "' has two '", k, "' fields");
    }
    key_ = k;
    return true;
  }

  bool end_object() override {
    if (state() == State::Entry) finish_entry();
    stack_.pop_back();
    return true;
  }

  bool end_array() override {
    if (state() == State::Offsets) {
      EMBER_CHECK(offsets_.size() == 2, path_, ": tensor '", entry_.name, "' needs data_offsets [begin, end]");
    }
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (!input_.error.empty()) EMBER_FAIL(input_.error);
    EMBER_FAIL(path_, ": the safetensors header is not valid JSON: ", e.what());
  }

 private:
  enum class State { Root, Metadata, Entry, Shape, Offsets, Ignored };
  enum class Kind { Unsigned, String, Other };

  State state() const { return stack_.back(); }

  std::string tensor() const { return "tensor '" + entry_.name + "'"; }

  void charge(uint64_t bytes) {
    used_ += bytes;
    EMBER_CHECK(used_ <= budget_, path_, ": the safetensors header holds too many entries (", entries_.size(),
                " tensors and ", metadata_.size(), " metadata keys read, over the limit of ", budget_,
                " bytes in memory)");
  }

  bool open(bool object) {
    const char* what = object ? "an object" : "an array";
    if (stack_.empty()) {
      EMBER_CHECK(object, path_, ": the safetensors header is not a JSON object");
      stack_.push_back(State::Root);
      return true;
    }
    EMBER_CHECK(stack_.size() < kMaxDepth, path_, ": the safetensors header nests deeper than ", kMaxDepth,
                " levels (", what, " under '", key_, "')");
    switch (state()) {
      case State::Root:
        if (key_ == "__metadata__") {
          EMBER_CHECK(object, path_, ": __metadata__ must be an object of strings");
          EMBER_CHECK(!seen_metadata_, path_, ": __metadata__ appears twice");
          seen_metadata_ = true;
          stack_.push_back(State::Metadata);
        } else {
          EMBER_CHECK(object, path_, ": tensor '", key_, "' needs dtype, shape and data_offsets");
          start_entry();
          stack_.push_back(State::Entry);
        }
        return true;
      case State::Metadata:
        EMBER_FAIL(path_, ": __metadata__ value of '", key_, "' is not a string");
      case State::Entry:
        if (key_ == "dtype") {
          EMBER_FAIL(path_, ": ", tensor(), " has unsupported dtype (", what, ") (Ember reads F32, F64, I64, U8)");
        } else if (key_ == "shape") {
          EMBER_CHECK(!object, path_, ": ", tensor(), " has a non-array shape");
          stack_.push_back(State::Shape);
        } else if (key_ == "data_offsets") {
          EMBER_CHECK(!object, path_, ": ", tensor(), " needs data_offsets [begin, end]");
          stack_.push_back(State::Offsets);
        } else {
          stack_.push_back(State::Ignored);  // a field Ember does not use; its contents must be flat
        }
        return true;
      default:
        EMBER_FAIL(path_, ": the safetensors header nests deeper than ", kMaxDepth, " levels");
    }
  }

  bool value(Kind kind, const std::string& text, uint64_t number = 0) {
    EMBER_CHECK(!stack_.empty(), path_, ": the safetensors header is not a JSON object");
    switch (state()) {
      case State::Root:
        EMBER_CHECK(key_ != "__metadata__", path_, ": __metadata__ must be an object of strings");
        EMBER_FAIL(path_, ": tensor '", key_, "' needs dtype, shape and data_offsets");
      case State::Metadata:
        EMBER_CHECK(kind == Kind::String, path_, ": __metadata__ value of '", key_, "' is not a string");
        charge(kEntryOverhead + key_.size() + text.size());
        EMBER_CHECK(metadata_.emplace(key_, text).second, path_, ": __metadata__ has two values for '", key_, "'");
        return true;
      case State::Entry:
        if (key_ == "dtype") {
          EMBER_CHECK(kind == Kind::String && parse_dtype(text, &entry_.dtype), path_, ": ", tensor(),
                      " has unsupported dtype ", kind == Kind::String ? json(text).dump() : text,
                      " (Ember reads F32, F64, I64, U8)");
          dtype_text_ = text;
        } else if (key_ == "shape") {
          EMBER_FAIL(path_, ": ", tensor(), " has a non-array shape");
        } else if (key_ == "data_offsets") {
          EMBER_FAIL(path_, ": ", tensor(), " needs data_offsets [begin, end]");
        }
        return true;
      case State::Shape: {
        EMBER_CHECK(kind == Kind::Unsigned, path_, ": ", tensor(), " has an invalid dimension ",
                    kind == Kind::String ? json(text).dump() : text);
        EMBER_CHECK(entry_.shape.size() < kMaxDims, path_, ": ", tensor(), " has more than ", kMaxDims, " dimensions");
        EMBER_CHECK(number <= (uint64_t(1) << 40), path_, ": ", tensor(), " dimension ", number, " is too large");
        EMBER_CHECK(number == 0 || numel_ <= kMaxNumel / number, path_, ": ", tensor(), " is too large (over 2^48 elements)");
        numel_ *= number;
        entry_.shape.push_back(static_cast<int64_t>(number));
        charge(8);
        return true;
      }
      case State::Offsets:
        EMBER_CHECK(kind == Kind::Unsigned && offsets_.size() < 2, path_, ": ", tensor(),
                    " needs data_offsets [begin, end]");
        offsets_.push_back(number);
        return true;
      case State::Ignored:
        return true;
    }
    return true;
  }

  void start_entry() {
    entry_ = Entry{};
    entry_.name = key_;
    numel_ = 1;
    offsets_.clear();
    seen_fields_.clear();
    dtype_text_.clear();
    charge(2 * (kEntryOverhead + key_.size()));  // the Entry and the name in names_
    EMBER_CHECK(names_.insert(key_).second, path_, ": tensor '", key_, "' appears twice");
  }

  void finish_entry() {
    EMBER_CHECK(seen_fields_.count("dtype") && seen_fields_.count("shape") && seen_fields_.count("data_offsets"),
                path_, ": ", tensor(), " needs dtype, shape and data_offsets");
    uint64_t begin = offsets_[0], end = offsets_[1];
    EMBER_CHECK(begin <= end && end <= data_size_, path_, ": ", tensor(), " data_offsets [", begin, ", ", end,
                "] are outside the data section of ", data_size_, " bytes");
    uint64_t expected = numel_ * element_size(entry_.dtype);
    EMBER_CHECK(end - begin == expected, path_, ": ", tensor(), " spans ", end - begin, " bytes but ", dtype_text_,
                " ", shape_str(entry_.shape), " needs ", expected);
    entry_.begin = begin;
    entry_.end = end;
    entries_.push_back(std::move(entry_));
  }

  const std::string& path_;
  const uint64_t budget_, data_size_;
  const HeaderStreambuf& input_;
  std::map<std::string, std::string>& metadata_;
  std::vector<Entry>& entries_;

  std::vector<State> stack_;
  std::string key_;
  uint64_t used_ = 0;
  Entry entry_;  // the tensor being read
  uint64_t numel_ = 1;
  std::vector<uint64_t> offsets_;
  std::set<std::string> seen_fields_;
  std::string dtype_text_;
  std::set<std::string> names_;  // of the tensors so far
  bool seen_metadata_ = false;
};

// The file validated whole; its tensors are read only when read_tensors.
SafetensorsFile load_safetensors_impl(const std::string& path, const MetadataCheck& check_metadata,
                                      bool read_tensors) {
  // Refuse what is not a regular file before opening it (opening a FIFO would block, and a
  // character device such as /dev/zero never ends).
  struct stat st;
  EMBER_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot open (", std::strerror(errno), ")");
  EMBER_CHECK(!S_ISDIR(st.st_mode), path, ": is a directory, not a safetensors file");
  EMBER_CHECK(S_ISREG(st.st_mode), path, ": not a regular file (", file_kind(st.st_mode),
              "), cannot be a safetensors file");
  Fd file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  EMBER_CHECK(file.fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  EMBER_CHECK(::fstat(file.fd, &st) == 0, path, ": cannot stat (", std::strerror(errno), ")");
  EMBER_CHECK(S_ISREG(st.st_mode), path, ": not a regular file (", file_kind(st.st_mode),
              "), cannot be a safetensors file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  EMBER_CHECK(file_size >= 8, path, ": not a safetensors file: ", file_size,
              " bytes, shorter than the 8-byte header length");
  unsigned char length[8];
  read_exactly(file.fd, length, 8, 0, path);
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(length[i]) << (8 * i);
  EMBER_CHECK(header_size <= file_size - 8, path, ": header length ", header_size, " exceeds the file size (",
              file_size, " bytes)");
  EMBER_CHECK(header_size <= kMaxHeaderBytes, path, ": header length ", header_size,
              " exceeds the safetensors limit of ", kMaxHeaderBytes, " bytes");
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;

  SafetensorsFile out;
  std::vector<Entry> entries;
  {
    HeaderStreambuf buffer(file.fd, 8, data_start, path);
    std::istream in(&buffer);
    SyntaxCheck syntax(path, buffer);
    json::sax_parse(in, &syntax);
  }
  {
    HeaderStreambuf buffer(file.fd, 8, data_start, path);
    std::istream in(&buffer);
    HeaderReader reader(path, header_size, data_size, buffer, out.metadata, entries);
    json::sax_parse(in, &reader);
  }

  // The tensors must tile the data section without overlap (as the format requires).
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return std::tie(a->begin, a->end) < std::tie(b->begin, b->end);
  });
  uint64_t covered = 0;
  for (const Entry* e : order) {
    EMBER_CHECK(e->begin == covered, path, ": tensor data ", e->begin < covered ? "overlaps" : "has a gap",
                " at byte ", std::min(e->begin, covered), " of the data section");
    covered = e->end;
  }
  EMBER_CHECK(covered == data_size, path, ": ", data_size - covered, " trailing bytes after the last tensor");
  if (check_metadata) check_metadata(out.metadata);
  if (!read_tensors) return out;

  // Only now read the tensors, each straight into its storage: the data section, once.
  for (const Entry& e : entries) {
    Tensor t;
    try {
      t = empty(e.shape, TensorOptions(e.dtype));
    } catch (const std::exception& error) {  // out of memory: ember::Error or std::bad_alloc
      EMBER_FAIL(path, ": cannot allocate tensor '", e.name, "' of ", e.end - e.begin, " bytes: ", error.what());
    }
    read_exactly(file.fd, t.data_ptr(), e.end - e.begin, data_start + e.begin, path);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path, const MetadataCheck& check_metadata) {
  try {
    return load_safetensors_impl(path, check_metadata, /*read_tensors=*/true);
  } catch (const std::bad_alloc&) {
    EMBER_FAIL(path, ": out of memory while reading it");
  }
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  try {
    return load_safetensors_impl(path, nullptr, /*read_tensors=*/false).metadata;
  } catch (const std::bad_alloc&) {
    EMBER_FAIL(path, ": out of memory while reading it");
  }
}

}  // namespace ember::data
