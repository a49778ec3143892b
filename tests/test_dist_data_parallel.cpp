// DataParallel: the split/weight/sum logic on two CPU "devices" (host reducer) against one module
// on the whole batch. The GPU path (NCCL, one communicator per GPU) runs on the GPU machine.
#include <catch2/catch.hpp>

#include <ember/dist/data_parallel.h>
#include <ember/ember.h>

#include "support/test_support.h"

using namespace ember;

namespace {

class SmallNet : public nn::Module {
 public:
  SmallNet() : Module("SmallNet") {
    w1 = register_parameter("w1", testing::random_tensor({6, 5}, 1));
    b1 = register_parameter("b1", testing::random_tensor({6}, 2));
    w2 = register_parameter("w2", testing::random_tensor({3, 6}, 3));
  }
  Tensor forward(const Tensor& x) override { return linear(relu(linear(x, w1, b1)), w2); }
  Tensor w1, b1, w2;
};

Tensor mse(const Tensor& out, const Tensor& target) {
  Tensor d = out - target;
  return mean(d * d);
}

}  // namespace

TEST_CASE("dist data_parallel: two CPU replicas equal one module on the whole batch", "[dist]") {
  Tensor x = testing::random_tensor({7, 5}, 10);  // 7 rows: uneven slices 3 + 4
  Tensor y = testing::random_tensor({7, 3}, 11);
  auto reference = std::make_shared<SmallNet>();
  Tensor ref_loss = mse(reference->forward(x), y);
  ref_loss.backward();

  auto main_module = std::make_shared<SmallNet>();
  {
    NoGradGuard no_grad;
    main_module->w1.mul_(3.0);  // the replica must take the main module's values, not its own
  }
  dist::DataParallel dp(main_module, [] { return std::make_shared<SmallNet>(); }, {kCPU, kCPU});
  {
    NoGradGuard no_grad;
    for (auto& p : dp.module()->parameters()) p.zero_();
    auto ref_params = reference->parameters();
    auto params = dp.module()->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].add_(ref_params[i]);
  }
  dp.sync_replicas();
  double loss = dp.train_step(x, y, mse);
  CHECK(loss == Approx(ref_loss.item()).epsilon(1e-12));
  auto ref_params = reference->parameters();
  auto params = dp.module()->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    std::string why;
    CHECK(testing::all_close(params[i].grad(), ref_params[i].grad(), 1e-10, 1e-12, &why));
    INFO(why);
  }
}
