#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include <ember/ember.h>
#include <ember/data/idx.h>
#include <ember/data/mnist.h>

using namespace ember;

namespace {

// A fresh temporary directory per test.
std::string temp_dir() {
  char pattern[] = "/tmp/ember_idx_XXXXXX";
  char* dir = mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One gzip member holding `bytes`.
std::vector<uint8_t> gzip_member(const std::vector<uint8_t>& bytes) {
  z_stream s;
  std::memset(&s, 0, sizeof(s));
  REQUIRE(deflateInit2(&s, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&s, bytes.size()));
  s.next_in = const_cast<Bytef*>(bytes.data());
  s.avail_in = static_cast<uInt>(bytes.size());
  s.next_out = out.data();
  s.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&s, Z_FINISH) == Z_STREAM_END);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// An IDX header: magic, then the dims, big-endian.
std::vector<uint8_t> idx_header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out;
  for (uint32_t v : std::vector<uint32_t>{magic}) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  }
  for (uint32_t v : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  }
  return out;
}

Tensor image_values(int64_t n, int64_t h = 28, int64_t w = 28) {
  std::vector<uint8_t> v(static_cast<size_t>(n * h * w));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 37) % 256);
  return from_vector(v, {n, h, w});
}

Tensor label_values(int64_t n) {
  std::vector<uint8_t> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i % 10);
  return from_vector(v, {n});
}

// A small MNIST-shaped directory: 5 training and 3 test examples.
void write_mnist(const std::string& dir, bool gzip) {
  std::string ext = gzip ? ".gz" : "";
  data::write_idx(dir + "/train-images-idx3-ubyte" + ext, image_values(5), gzip);
  data::write_idx(dir + "/train-labels-idx1-ubyte" + ext, label_values(5), gzip);
  data::write_idx(dir + "/t10k-images-idx3-ubyte" + ext, image_values(3), gzip);
  data::write_idx(dir + "/t10k-labels-idx1-ubyte" + ext, label_values(3), gzip);
}

}  // namespace

TEST_CASE("IDX files read raw and gzip, with the same contents", "[data]") {
  std::string dir = temp_dir();
  Tensor images = image_values(4, 3, 2);
  data::write_idx(dir + "/raw-images", images);
  data::write_idx(dir + "/gz-images.gz", images, true);
  data::write_idx(dir + "/gz-no-suffix", images, true);  // detected by magic, not by name
  for (std::string name : {"raw-images", "gz-images.gz", "gz-no-suffix"}) {
    INFO(name);
    Tensor read = data::read_idx(dir + "/" + name, data::kIdxImagesMagic);
    CHECK(read.dtype() == kUInt8);
    CHECK(read.sizes() == Shape{4, 3, 2});
    CHECK(read.to_vector<uint8_t>() == images.to_vector<uint8_t>());
  }
  std::vector<uint8_t> raw = read_bytes(dir + "/raw-images");
  CHECK(raw.size() == 16 + 24);
  CHECK(raw[3] == 3);  // 0x00000803
}

TEST_CASE("IDX errors are one clear line naming the file", "[data]") {
  std::string dir = temp_dir();
  data::write_idx(dir + "/labels", label_values(10));
  std::vector<uint8_t> good = read_bytes(dir + "/labels");

  CHECK_THROWS_WITH(data::read_idx(dir + "/absent", data::kIdxLabelsMagic),
                    Catch::Contains(dir + "/absent") && Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(data::read_idx(dir + "/labels", data::kIdxImagesMagic),
                    Catch::Contains("wrong IDX magic number 0x00000801, expected 0x00000803"));

  std::vector<uint8_t> truncated(good.begin(), good.end() - 3);
  write_bytes(dir + "/truncated", truncated);
  CHECK_THROWS_WITH(data::read_idx(dir + "/truncated", data::kIdxLabelsMagic),
                    Catch::Contains(dir + "/truncated") && Catch::Contains("truncated IDX data") &&
                        Catch::Contains("needs 10 bytes, the file has 7"));

  std::vector<uint8_t> longer = good;
  longer.push_back(1);
  write_bytes(dir + "/longer", longer);
  CHECK_THROWS_WITH(data::read_idx(dir + "/longer", data::kIdxLabelsMagic), Catch::Contains("trailing bytes"));

  write_bytes(dir + "/short-header", {0, 0, 8});
  CHECK_THROWS_WITH(data::read_idx(dir + "/short-header", data::kIdxLabelsMagic), Catch::Contains("truncated"));

  write_bytes(dir + "/not.gz", good);  // raw bytes under a .gz name
  CHECK_THROWS_WITH(data::read_idx(dir + "/not.gz", data::kIdxLabelsMagic), Catch::Contains("not a gzip file"));

  data::write_idx(dir + "/cut.gz", label_values(1000), true);
  std::vector<uint8_t> gz = read_bytes(dir + "/cut.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir + "/cut.gz", gz);
  CHECK_THROWS_WITH(data::read_idx(dir + "/cut.gz", data::kIdxLabelsMagic),
                    Catch::Contains(dir + "/cut.gz") && Catch::Contains("corrupt or truncated gzip"));

  std::vector<uint8_t> garbage{0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  write_bytes(dir + "/garbage.gz", garbage);
  CHECK_THROWS_WITH(data::read_idx(dir + "/garbage.gz", data::kIdxLabelsMagic), Catch::Contains("gzip"));
}

TEST_CASE("MNIST loads a directory of raw or gzip files", "[data]") {
  for (bool gzip : {false, true}) {
    INFO("gzip " << gzip);
    std::string dir = temp_dir();
    write_mnist(dir, gzip);
    data::MNIST train(dir, true);
    CHECK(train.size() == 5);
    CHECK(train.images().sizes() == Shape{5, 1, 28, 28});
    CHECK(train.images().dtype() == kFloat32);
    CHECK(train.labels().dtype() == kInt64);
    CHECK(train.labels().to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
    std::vector<float> px = train.images().to_vector<float>();
    CHECK(px[1] == Approx(37.0 / 255.0));
    data::MNIST test(dir, false, data::MNISTOptions().with_normalize());
    CHECK(test.size() == 3);
    CHECK(test.images().to_vector<float>()[1] == Approx((37.0 / 255.0 - 0.1307) / 0.3081));
    data::Example e = test.get(2);
    CHECK(e.data.sizes() == Shape{1, 28, 28});
    CHECK(e.target.item() == 2.0);
  }
}

TEST_CASE("MNIST refuses missing files and mismatched counts", "[data]") {
  std::string dir = temp_dir();
  CHECK_THROWS_WITH(data::MNIST(dir, true), Catch::Contains("missing file") && Catch::Contains("train-images-idx3-ubyte"));
  write_mnist(dir, false);
  data::write_idx(dir + "/train-labels-idx1-ubyte", label_values(4));
  CHECK_THROWS_WITH(data::MNIST(dir, true), Catch::Contains("wrong label count 4") && Catch::Contains("5 images"));
  data::write_idx(dir + "/t10k-images-idx3-ubyte", image_values(3, 28, 27));
  CHECK_THROWS_WITH(data::MNIST(dir, false), Catch::Contains("28x28"));
}

TEST_CASE("the bundled MNIST files load", "[data][slow]") {
  std::string root = std::string(EMBER_SOURCE_DIR) + "/data/mnist";
  data::MNIST train(root, true);
  data::MNIST test(root, false);
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  std::vector<int64_t> first = train.labels().narrow(0, 0, 10).to_vector<int64_t>();
  CHECK(first == std::vector<int64_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4});
  double mean = train.images().mean().item();
  CHECK(mean == Approx(0.1307).margin(1e-4));
}

TEST_CASE("IDX gzip files of several concatenated members read as one stream", "[data]") {
  std::string dir = temp_dir();
  std::vector<uint8_t> payload(1000);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i % 10);
  std::vector<uint8_t> whole = concat(idx_header(data::kIdxLabelsMagic, {1000}), payload);
  // RFC 1952: `cat a.gz b.gz` is a valid gzip file; split inside the header and inside the data.
  std::vector<uint8_t> a(whole.begin(), whole.begin() + 6), b(whole.begin() + 6, whole.begin() + 500),
      c(whole.begin() + 500, whole.end());
  write_bytes(dir + "/multi.gz",
              concat(concat(gzip_member(a), gzip_member(b)), concat(gzip_member({}), gzip_member(c))));
  Tensor read = data::read_idx(dir + "/multi.gz", data::kIdxLabelsMagic);
  CHECK(read.sizes() == Shape{1000});
  CHECK(read.to_vector<uint8_t>() == payload);
  CHECK(data::read_file_maybe_gzip(dir + "/multi.gz") == whole);
}

TEST_CASE("IDX gzip files refuse trailing garbage and streams longer than the header declares", "[data]") {
  std::string dir = temp_dir();
  std::vector<uint8_t> whole = concat(idx_header(data::kIdxLabelsMagic, {10}), std::vector<uint8_t>(10, 3));
  for (std::vector<uint8_t> tail : {std::vector<uint8_t>{'j', 'u', 'n', 'k'}, std::vector<uint8_t>{0, 0, 7, 0},
                                    std::vector<uint8_t>{0x1f}}) {
    INFO(tail.size());
    write_bytes(dir + "/tail.gz", concat(gzip_member(whole), tail));
    CHECK_THROWS_WITH(data::read_idx(dir + "/tail.gz", data::kIdxLabelsMagic),
                      Catch::Contains(dir + "/tail.gz") && Catch::Contains("trailing garbage after the gzip data") &&
                          Catch::Contains(std::to_string(tail.size()) + " bytes after member 1"));
    CHECK_THROWS_WITH(data::read_file_maybe_gzip(dir + "/tail.gz"), Catch::Contains("trailing garbage"));
  }
  // Zero padding after the last member (tape-style) is accepted, as gunzip and Python's gzip do.
  write_bytes(dir + "/padded.gz", concat(gzip_member(whole), std::vector<uint8_t>(512, 0)));
  CHECK(data::read_idx(dir + "/padded.gz", data::kIdxLabelsMagic).to_vector<uint8_t>() ==
        std::vector<uint8_t>(10, 3));
  // An (empty) member cut short after a complete one.
  std::vector<uint8_t> second = gzip_member({});
  second.resize(second.size() - 5);
  write_bytes(dir + "/cut2.gz", concat(gzip_member(whole), second));
  CHECK_THROWS_WITH(data::read_idx(dir + "/cut2.gz", data::kIdxLabelsMagic),
                    Catch::Contains("the file ends inside gzip member 2"));

  // 16 MiB more than the header's 10 bytes, with a broken CRC at the very end: the reader stops one
  // byte past the declared payload, so it reports the longer stream, never inflating to the bad CRC.
  std::vector<uint8_t> longer = gzip_member(concat(whole, std::vector<uint8_t>(16 << 20, 0)));
  longer[longer.size() - 6] ^= 0xff;
  write_bytes(dir + "/longer.gz", longer);
  CHECK_THROWS_WITH(data::read_idx(dir + "/longer.gz", data::kIdxLabelsMagic),
                    Catch::Contains("trailing bytes after IDX data") && Catch::Contains("needs 10 bytes") &&
                        Catch::Contains("decompressed data has more"));
  CHECK_THROWS_WITH(data::read_file_maybe_gzip(dir + "/longer.gz"), Catch::Contains("corrupt or truncated gzip"));

  // The header is checked before the payload is inflated: a wrong magic is reported as such.
  write_bytes(dir + "/magic.gz", longer);
  CHECK_THROWS_WITH(data::read_idx(dir + "/magic.gz", data::kIdxImagesMagic), Catch::Contains("wrong IDX magic"));
}

TEST_CASE("IDX headers whose dims multiply past int64 are refused with the right byte counts", "[data]") {
  std::string dir = temp_dir();
  // [2^31, 2^31, 4] wraps to 0 in uint64: it must not read as an empty payload.
  std::vector<uint8_t> wraps = idx_header(data::kIdxImagesMagic, {1u << 31, 1u << 31, 4});
  write_bytes(dir + "/wraps", wraps);
  write_bytes(dir + "/wraps.gz", gzip_member(wraps));
  for (std::string name : {"wraps", "wraps.gz"}) {
    CHECK_THROWS_WITH(data::read_idx(dir + "/" + name, data::kIdxImagesMagic),
                      Catch::Contains(dir + "/" + name) && Catch::Contains("[2147483648, 2147483648, 4]") &&
                          Catch::Contains("declares more than 18446744073709551615 bytes") &&
                          Catch::Contains("more than a tensor can hold"));
  }
  // Fits uint64 but not int64.
  write_bytes(dir + "/big", idx_header(data::kIdxImagesMagic, {0xffffffffu, 0xffffffffu, 1}));
  CHECK_THROWS_WITH(data::read_idx(dir + "/big", data::kIdxImagesMagic),
                    Catch::Contains("declares 18446744065119617025 bytes"));
  // Fits: a plain truncation, with exact counts.
  write_bytes(dir + "/u32max", concat(idx_header(data::kIdxLabelsMagic, {0xffffffffu}), std::vector<uint8_t>(10)));
  CHECK_THROWS_WITH(data::read_idx(dir + "/u32max", data::kIdxLabelsMagic),
                    Catch::Contains("truncated IDX data: header [4294967295] needs 4294967295 bytes, the file has 10"));
  write_bytes(dir + "/u32max.gz",
              gzip_member(concat(idx_header(data::kIdxLabelsMagic, {0xffffffffu}), std::vector<uint8_t>(10))));
  CHECK_THROWS_WITH(data::read_idx(dir + "/u32max.gz", data::kIdxLabelsMagic),
                    Catch::Contains("needs 4294967295 bytes, the decompressed data has 10"));
}
