#include <ember/nn/mnist_net.h>

#include <ember/ops/ops.h>

namespace ember::nn {

MnistNet::MnistNet(Generator* generator) : Module("Net") {
  // Registration order fixes parameter order and the state dict names.
  conv1 = register_module("conv1", std::make_shared<Conv2d>(Conv2dOptions(1, 10, 5), generator));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(Conv2dOptions(10, 20, 5), generator));
  fc1 = register_module("fc1", std::make_shared<Linear>(320, 50, generator));
  fc2 = register_module("fc2", std::make_shared<Linear>(50, 10, generator));
}

Tensor MnistNet::forward_logits(const Tensor& x) {
  EMBER_CHECK(x.dim() == 4 && x.size(1) == 1 && x.size(2) == 28 && x.size(3) == 28,
              "Net: expected input (N, 1, 28, 28), got ", x.str());
  // Each conv block: the convolution without its bias, then relu(max_pool2d(.) + bias) in one
  // fused op (the bias is constant over a pooling window, so adding it after the max is exact).
  Tensor h = max_pool2d_relu(conv2d(x, conv1->weight, Tensor(), conv1->options().params), {2, 2}, conv1->bias);
  h = max_pool2d_relu(conv2d(h, conv2->weight, Tensor(), conv2->options().params), {2, 2}, conv2->bias);
  h = h.flatten(1);
  // fc1 with its bias and relu in one op (one cuBLASLt call with a bias + relu epilogue on the GPU).
  h = linear_relu(h, fc1->weight, fc1->bias);
  return fc2->forward(h);
}

Tensor MnistNet::forward(const Tensor& x) { return log_softmax(forward_logits(x), 1); }

}  // namespace ember::nn
