#include <ember/data/mnist.h>

#include <sys/stat.h>

#include <ember/core/error.h>
#include <ember/data/idx.h>

namespace ember::data {

namespace {

bool file_exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), x / 255 and optionally (x - mean) / std.
Tensor to_float_images(const Tensor& raw, const MNISTOptions& options) {
  const uint8_t* in = raw.data<uint8_t>();
  int64_t n = raw.size(0), h = raw.size(1), w = raw.size(2);
  Tensor out = empty({n, 1, h, w});
  float* dst = out.data<float>();
  double scale = 1.0 / 255.0, shift = 0.0;
  if (options.normalize) {
    scale /= options.std;
    shift = -options.mean / options.std;
  }
  const int64_t count = raw.numel();  // 47M pixels: not recomputed per element
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(in[i] * scale + shift);
  return out;
}

Tensor load_images(const std::string& root, bool train, const MNISTOptions& options) {
  std::string path = find_mnist_file(root, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
  Tensor raw = read_idx(path, kIdxImagesMagic);
  EMBER_CHECK(raw.size(1) == 28 && raw.size(2) == 28, path, ": expected 28x28 images, got ", shape_str(raw.sizes()));
  return to_float_images(raw, options);
}

Tensor load_labels(const std::string& root, bool train, int64_t expected_count) {
  std::string path = find_mnist_file(root, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
  Tensor raw = read_idx(path, kIdxLabelsMagic);
  EMBER_CHECK(raw.size(0) == expected_count, path, ": wrong label count ", raw.size(0), ", the images file has ",
              expected_count, " images");
  const uint8_t* in = raw.data<uint8_t>();
  for (int64_t i = 0, count = raw.numel(); i < count; ++i) {
    EMBER_CHECK(in[i] <= 9, path, ": label ", int(in[i]), " at index ", i, " is not a digit class 0..9");
  }
  return raw.to(kInt64);
}

}  // namespace

std::string find_mnist_file(const std::string& root, const std::string& name) {
  std::string base = root.empty() || root.back() == '/' ? root + name : root + "/" + name;
  if (file_exists(base + ".gz")) return base + ".gz";
  if (file_exists(base)) return base;
  EMBER_FAIL("MNIST: missing file: neither ", base, ".gz nor ", base, " exists");
}

MNIST::MNIST(const std::string& root, bool train, const MNISTOptions& options)
    : MNIST(load(root, train, options)) {}

Example MNIST::load(const std::string& root, bool train, const MNISTOptions& options) {
  Tensor images = load_images(root, train, options);
  Tensor labels = load_labels(root, train, images.size(0));
  return {images, labels};
}

std::string MNIST::default_root() {
#ifdef EMBER_DATA_DIR_HINT
  return std::string(EMBER_DATA_DIR_HINT) + "/mnist";
#else
  return "";
#endif
}

}  // namespace ember::data
