// A small program using Ember as a library: a two-layer nn::Module fitted to generated data with
// SGD, a checkpoint saved and loaded into a fresh model, and the loss printed along the way. Runs on
// the GPU when there is one.
#include <ember/ember.h>

#include <cstdio>
#include <filesystem>
#include <memory>

using namespace ember;

namespace {

// y = fc2(tanh(fc1(x))): 3 inputs, 32 hidden units, 1 output.
class Regressor : public nn::Module {
 public:
  explicit Regressor(Generator* generator)
      : nn::Module("Regressor"),
        fc1(register_module("fc1", std::make_shared<nn::Linear>(3, 32, generator))),
        fc2(register_module("fc2", std::make_shared<nn::Linear>(32, 1, generator))) {}

  Tensor forward(const Tensor& x) override { return (*fc2)(tanh((*fc1)(x))); }

  std::shared_ptr<nn::Linear> fc1, fc2;
};

}  // namespace

int main() {
  try {
    Device device = cuda::is_available() ? cuda_device(0) : kCPU;
    std::printf("Ember %s on %s\n", version().c_str(), device.str().c_str());
    manual_seed(0);
    Generator gen(42);

    // Data: y = 2 x0 - x1 + 0.5 x2 + 0.3 + noise, 512 samples.
    Tensor x = randn({512, 3}, TensorOptions(kFloat32), &gen);
    Tensor w_true = from_vector<float>({2.0f, -1.0f, 0.5f}, {3, 1});
    Tensor y = matmul(x, w_true) + 0.3 + randn({512, 1}, TensorOptions(kFloat32), &gen) * 0.05;
    x = x.to(device);
    y = y.to(device);

    auto model = std::make_shared<Regressor>(&gen);
    model->to(device);
    optim::SGD optimizer(model->parameters(), optim::SGDOptions(0.05).momentum(0.9));

    double loss_value = 0;
    for (int step = 1; step <= 300; ++step) {
      optimizer.zero_grad();
      Tensor loss = mse_loss((*model)(x), y);
      loss.backward();
      optimizer.step();
      loss_value = loss.item();
      if (step == 1 || step % 50 == 0) std::printf("step %3d  loss %.6f\n", step, loss_value);
    }

    // Save, load into a fresh model, and check that it predicts the same.
    std::filesystem::path path = std::filesystem::temp_directory_path() / "ember_train_regression.safetensors";
    const int64_t epoch = 1;
    nn::save_checkpoint(path.string(), *model, &optimizer, epoch, gen.state(), {{"example", "train_regression"}});
    // A fresh model and optimizer of the same shapes, restored from the file.
    auto restored = std::make_shared<Regressor>(nullptr);
    restored->to(device);
    optim::SGD restored_optimizer(restored->parameters(), optim::SGDOptions(0.05).momentum(0.9));
    nn::CheckpointInfo info = nn::load_checkpoint(path.string(), *restored, &restored_optimizer);
    if (info.epoch != epoch || info.metadata["example"] != "train_regression") {
      std::fprintf(stderr, "train_regression: checkpoint metadata did not round-trip\n");
      return 1;
    }
    double restored_loss;
    {
      NoGradGuard no_grad;
      restored_loss = mse_loss((*restored)(x), y).item();
    }
    std::printf("checkpoint %s: restored model loss %.6f\n", path.string().c_str(), restored_loss);
    std::filesystem::remove(path);

    NoGradGuard no_grad;
    double final_loss = mse_loss((*model)(x), y).item();
    if (!(final_loss < 0.01) || std::abs(restored_loss - final_loss) > 1e-6) {
      std::fprintf(stderr, "train_regression: FAILED (loss %.6f, restored %.6f)\n", final_loss, restored_loss);
      return 1;
    }
    std::printf("train_regression: final loss %.6f\n", final_loss);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_regression: %s\n", e.what());
    return 1;
  }
}
