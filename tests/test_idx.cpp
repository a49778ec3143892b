#include <catch2/catch.hpp>

#include <cstdio>
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
