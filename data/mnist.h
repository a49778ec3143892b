// MNIST (and Fashion-MNIST, same files and format) from a directory holding the four canonical
// files, gzip-compressed (*.gz) or raw: train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
#pragma once
#include <string>

#include <ember/data/dataset.h>

namespace ember::data {

struct MNISTOptions {
  bool normalize = false;  // (x / 255 - mean) / std after scaling
  double mean = 0.1307;
  double std = 0.3081;
  MNISTOptions& with_normalize(bool on = true) { normalize = on; return *this; }
};

class MNIST : public TensorDataset {
 public:
  // train: the 60000-image training split, else the 10000-image test split.
  MNIST(const std::string& root, bool train, const MNISTOptions& options = {});
  // images (N, 1, 28, 28) float32 in [0, 1] (or normalised), labels (N) int64.
  const Tensor& images() const { return data(); }
  const Tensor& labels() const { return targets(); }

  // The directory shipped with the sources (data/mnist), or "" when the build does not know it.
  static std::string default_root();

 private:
  explicit MNIST(Example loaded) : TensorDataset(std::move(loaded.data), std::move(loaded.target)) {}
  static Example load(const std::string& root, bool train, const MNISTOptions& options);
};

// The path of `name` in root, preferring name.gz and then the raw name; throws listing both when
// neither exists.
std::string find_mnist_file(const std::string& root, const std::string& name);

}  // namespace ember::data
