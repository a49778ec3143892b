#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include <ember/ember.h>
#include "support/test_support.h"
#include <ember/nn/conv.h>
#include <ember/nn/init.h>
#include <ember/nn/layers.h>
#include <ember/nn/linear.h>
#include <ember/nn/mnist_net.h>
#include <ember/nn/sequential.h>

using namespace ember;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (auto& n : named) out.push_back(n.first);
  return out;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

// A module with a buffer, to check buffers travel with state dicts.
class WithBuffer : public nn::Module {
 public:
  WithBuffer() : Module("WithBuffer") {
    scale = register_parameter("scale", ones({3}));
    running = register_buffer("running", zeros({3}));
    inner = register_module("inner", std::make_shared<nn::Linear>(3, 2));
  }
  Tensor scale, running;
  std::shared_ptr<nn::Linear> inner;
};

// Weight tying: one tensor under two names, and one Linear registered as two submodules.
class Tied : public nn::Module {
 public:
  Tied() : Module("Tied") {
    p1 = register_parameter("p1", ones({2}));
    p2 = register_parameter("p2", p1);
    shared = std::make_shared<nn::Linear>(2, 2);
    register_module("a", shared);
    register_module("b", shared);
  }
  Tensor p1, p2;
  std::shared_ptr<nn::Linear> shared;
};

// Registers `second` after `first` (each "parameter", "buffer" or "module") under one name.
class Registers : public nn::Module {
 public:
  Registers(const std::string& first, const std::string& second, const std::string& name = "x")
      : Module("Registers") {
    add(first, name);
    add(second, name);
  }
  void add(const std::string& kind, const std::string& name) {
    if (kind == "parameter") register_parameter(name, zeros({1}));
    else if (kind == "buffer") register_buffer(name, zeros({1}));
    else if (kind == "undefined parameter") register_parameter(name, Tensor());
    else if (kind == "undefined buffer") register_buffer(name, Tensor());
    else register_module(name, kind == "null" ? nullptr : std::make_shared<nn::Linear>(2, 2));
  }
};

}  // namespace

TEST_CASE("MnistNet parameter names and order match PyTorch's Net", "[nn]") {
  nn::MnistNet net;
  std::vector<std::string> expected{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                    "fc1.weight",   "fc1.bias",   "fc2.weight",   "fc2.bias"};
  CHECK(names_of(net.named_parameters()) == expected);
  std::vector<Shape> shapes{{10, 1, 5, 5}, {10}, {20, 10, 5, 5}, {20}, {50, 320}, {50}, {10, 50}, {10}};
  TensorList params = net.parameters();
  REQUIRE(params.size() == shapes.size());
  int64_t total = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    CHECK(params[i].sizes() == shapes[i]);
    CHECK(params[i].requires_grad());
    CHECK(params[i].is_leaf());
    total += params[i].numel();
  }
  CHECK(total == 21840);
  CHECK(names_of(net.named_parameters(false)).empty());
}

TEST_CASE("default init follows PyTorch's bounds", "[nn]") {
  Generator gen(1234);
  nn::Linear fc(320, 50, &gen);
  double bound = 1.0 / std::sqrt(320.0);
  CHECK(max_abs(fc.weight) <= bound);
  CHECK(max_abs(fc.weight) > 0.95 * bound);  // 16000 draws reach close to the edge
  CHECK(max_abs(fc.bias) <= bound);
  CHECK(max_abs(fc.bias) > 0.5 * bound);

  nn::Conv2d conv(nn::Conv2dOptions(10, 20, 5), &gen);
  double conv_bound = 1.0 / std::sqrt(250.0);  // fan_in = 10 * 5 * 5
  CHECK(max_abs(conv.weight) <= conv_bound);
  CHECK(max_abs(conv.weight) > 0.95 * conv_bound);
  CHECK(max_abs(conv.bias) <= conv_bound);

  // kaiming_uniform_ with a = 0: bound = sqrt(6 / fan_in).
  Tensor w = empty({100, 60});
  nn::init::kaiming_uniform_(w, 0.0, &gen);
  CHECK(max_abs(w) <= std::sqrt(6.0 / 60.0));
  CHECK(max_abs(w) > 0.95 * std::sqrt(6.0 / 60.0));
  CHECK(nn::init::fan_in_and_out(conv.weight) == std::pair<int64_t, int64_t>{250, 500});

  // Same generator seed, same weights.
  Generator a(7), b(7);
  nn::Linear l1(4, 3, &a), l2(4, 3, &b);
  CHECK(l1.weight.to_vector<float>() == l2.weight.to_vector<float>());
  CHECK(l1.bias.to_vector<float>() == l2.bias.to_vector<float>());
}

TEST_CASE("state_dict round trip and strict loading", "[nn]") {
  Generator g1(1), g2(2);
  nn::MnistNet a(&g1), b(&g2);
  auto state = a.state_dict();
  CHECK(state.size() == 8);
  CHECK(a.state_dict().at("fc1.weight").to_vector<float>() != b.state_dict().at("fc1.weight").to_vector<float>());
  b.load_state_dict(state);
  for (auto& [name, tensor] : b.state_dict()) {
    CHECK(tensor.to_vector<float>() == state.at(name).to_vector<float>());
  }
  // Loading copies values: the parameters stay the same leaves.
  CHECK(b.fc1->weight.requires_grad());
  CHECK(b.named_parameters()[4].second.is_same(b.fc1->weight));

  auto missing = state;
  missing.erase("fc2.bias");
  CHECK_THROWS_WITH(b.load_state_dict(missing), Catch::Contains("missing key 'fc2.bias'"));
  CHECK_NOTHROW(b.load_state_dict(missing, /*strict=*/false));
  auto extra = state;
  extra["fc3.weight"] = zeros({1});
  CHECK_THROWS_WITH(b.load_state_dict(extra), Catch::Contains("unexpected key 'fc3.weight'"));
  auto wrong = state;
  wrong["fc1.weight"] = zeros({50, 321});
  CHECK_THROWS_WITH(b.load_state_dict(wrong), Catch::Contains("size mismatch for 'fc1.weight'") &&
                                                  Catch::Contains("[50, 321]") && Catch::Contains("[50, 320]"));
  auto wrong_dtype = state;
  wrong_dtype["fc1.bias"] = zeros({50}, kFloat64);
  CHECK_THROWS_WITH(b.load_state_dict(wrong_dtype), Catch::Contains("dtype mismatch for 'fc1.bias'"));
}

TEST_CASE("buffers are named, saved and loaded", "[nn]") {
  WithBuffer m;
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"scale", "inner.weight", "inner.bias"});
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"running"});
  auto state = m.state_dict();
  CHECK(state.count("running"));
  state["running"] = full({3}, 2.5);
  m.load_state_dict(state);
  CHECK(m.running.to_vector<float>() == std::vector<float>{2.5f, 2.5f, 2.5f});
}

TEST_CASE("train and eval recurse", "[nn]") {
  auto seq = std::make_shared<nn::Sequential>(
      std::initializer_list<std::shared_ptr<nn::Module>>{std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::Dropout>(0.5)});
  CHECK(seq->is_training());
  seq->eval();
  CHECK(!seq->is_training());
  CHECK(!(*seq)[0]->is_training());
  CHECK(!(*seq)[1]->is_training());
  seq->train();
  CHECK((*seq)[1]->is_training());
}

TEST_CASE("Sequential names, chains and describes", "[nn]") {
  nn::Sequential seq{std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(6, 4),
                     std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(4, 2, nullptr)};
  CHECK(seq.size() == 4);
  CHECK(names_of(seq.named_parameters()) == std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"});
  Tensor x = testing::random_tensor({5, 2, 3}, 3, -1, 1, kFloat32);
  Tensor y = seq.forward(x);
  CHECK(y.sizes() == Shape{5, 2});
  // The same by hand.
  auto l1 = std::dynamic_pointer_cast<nn::Linear>(seq[1]);
  auto l3 = std::dynamic_pointer_cast<nn::Linear>(seq[3]);
  Tensor expected = l3->forward(relu(l1->forward(x.flatten(1))));
  std::string why;
  CHECK(testing::all_close(y, expected, 1e-6, 1e-6, &why));
  INFO(why);
  std::string text = seq.describe();
  CHECK_THAT(text, Catch::Contains("(1): Linear(in_features=6, out_features=4, bias=True)"));
  CHECK_THAT(text, Catch::Contains("(2): ReLU()"));
  CHECK_THROWS_WITH(seq.push_back(nullptr), Catch::Contains("null module"));
}

// An index out of range is an ember::Error naming it and the size (it was std::out_of_range); a
// negative one counts from the end, as in PyTorch.
TEST_CASE("Sequential indexing, negative indices and out of range", "[nn]") {
  nn::Sequential seq{std::make_shared<nn::Flatten>(), std::make_shared<nn::ReLU>()};
  CHECK(seq[-1] == seq[1]);
  CHECK(seq[-2] == seq[0]);
  CHECK_THROWS_WITH(seq[2], Catch::Contains("Sequential: index 2 is out of range for 2 modules"));
  CHECK_THROWS_WITH(seq[seq.size()], Catch::Contains("index 2 is out of range"));
  CHECK_THROWS_WITH(seq[-3], Catch::Contains("Sequential: index -3 is out of range for 2 modules"));
  CHECK_THROWS_AS(nn::Sequential()[0], Error);
}

// train() is virtual, as in libtorch: a child's override runs when a parent's train() or eval()
// recurses, and eval() on the module itself goes through it too.
TEST_CASE("train is virtual, a parent's eval reaches a child's override", "[nn]") {
  struct Counting : nn::Module {
    Counting() : nn::Module("Counting") {}
    void train(bool on = true) override {
      calls.push_back(on);
      nn::Module::train(on);
    }
    std::vector<bool> calls;
  };
  auto child = std::make_shared<Counting>();
  nn::Sequential parent{std::make_shared<nn::ReLU>(), child};
  parent.eval();
  CHECK(child->calls == std::vector<bool>{false});
  CHECK(!child->is_training());
  parent.train();
  CHECK(child->calls == std::vector<bool>{false, true});
  nn::Module& base = *child;
  base.eval();
  CHECK(child->calls == std::vector<bool>{false, true, false});
}

TEST_CASE("zero_grad keeps gradient storage or drops it", "[nn]") {
  nn::Linear fc(3, 2);
  Tensor x = testing::random_tensor({4, 3}, 5, -1, 1, kFloat32);
  fc.forward(x).sum().backward();
  Tensor grad = fc.weight.grad();
  REQUIRE(grad.defined());
  CHECK(max_abs(grad) > 0);
  fc.zero_grad();
  CHECK(fc.weight.grad().is_same(grad));  // the same tensor, zeroed in place
  CHECK(max_abs(grad) == 0);
  fc.zero_grad(/*set_to_none=*/true);
  CHECK(!fc.weight.grad().defined());
  CHECK(!fc.bias.grad().defined());
}

TEST_CASE("MnistNet forward shapes and log-probabilities", "[nn]") {
  Generator gen(3);
  nn::MnistNet net(&gen);
  Tensor x = testing::random_tensor({4, 1, 28, 28}, 11, 0, 1, kFloat32);
  Tensor logp = net.forward(x);
  CHECK(logp.sizes() == Shape{4, 10});
  std::vector<float> v = logp.to_vector<float>();
  for (int r = 0; r < 4; ++r) {
    double s = 0;
    for (int c = 0; c < 10; ++c) s += std::exp(v[r * 10 + c]);
    CHECK(s == Approx(1.0).epsilon(1e-5));
  }
  // forward_logits is forward without log_softmax; both match the unfused composition.
  Tensor logits = net.forward_logits(x);
  Tensor h = relu(max_pool2d(net.conv1->forward(x), {2, 2}));
  h = relu(max_pool2d(net.conv2->forward(h), {2, 2}));
  Tensor manual = net.fc2->forward(relu(net.fc1->forward(h.flatten(1))));
  std::string why;
  CHECK(testing::all_close(logits, manual, 1e-5, 1e-5, &why));
  INFO(why);
  CHECK_THROWS_WITH(net.forward(zeros({2, 3, 28, 28})), Catch::Contains("(N, 1, 28, 28)"));
  CHECK_THAT(net.describe(), Catch::Contains("(conv1): Conv2d(1, 10, kernel_size=(5, 5), stride=(1, 1))"));
  std::ostringstream printed;
  printed << net;
  CHECK(printed.str() == net.describe());
}

TEST_CASE("Module::to keeps parameters as leaves on the target device", "[nn]") {
  nn::Linear fc(3, 2);
  Tensor handle = fc.weight;
  fc.to(kCPU);  // a no-op move keeps everything
  CHECK(handle.is_same(fc.weight));
  CHECK(fc.weight.requires_grad());
  CHECK(fc.weight.is_leaf());
  if (cuda::is_available()) {
    fc.to(cuda_device(0));
    CHECK(handle.is_cuda());  // handles held elsewhere see the move
    CHECK(fc.weight.requires_grad());
    fc.to(kCPU);
    CHECK(handle.is_cpu());
  }
}

// PyTorch: parameters() lists a shared tensor once (under its first name), state_dict() has every name.
TEST_CASE("a tensor registered under several names is one parameter but keeps every state_dict name", "[nn]") {
  Tied m;
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"p1", "a.weight", "a.bias"});
  CHECK(m.parameters().size() == 3);
  auto state = m.state_dict();
  CHECK(state.size() == 6);
  for (const char* name : {"p1", "p2", "a.weight", "a.bias", "b.weight", "b.bias"}) CHECK(state.count(name));

  // An optimizer over parameters() updates the tied tensor once (torch: 1 - 0.1 = 0.9).
  optim::SGD sgd(m.parameters(), optim::SGDOptions(0.1));
  sum(m.p1).backward();
  sgd.step();
  CHECK(m.p1.to_vector<float>() == std::vector<float>{0.9f, 0.9f});
  CHECK(m.p2.is_same(m.p1));
  m.zero_grad(/*set_to_none=*/true);
  CHECK(!m.p1.grad().defined());

  // Loading needs every name (strict) and keeps the tie.
  Tied other;
  other.load_state_dict(state);
  CHECK(other.p1.to_vector<float>() == std::vector<float>{0.9f, 0.9f});
  CHECK(other.p2.is_same(other.p1));
  CHECK(other.shared->weight.to_vector<float>() == m.shared->weight.to_vector<float>());
  auto missing = state;
  missing.erase("p2");
  CHECK_THROWS_WITH(other.load_state_dict(missing), Catch::Contains("missing key 'p2'"));
  other.to(kCPU);
  CHECK(other.parameters().size() == 3);
}

// PyTorch refuses a name already in use (KeyError "attribute 'x' already exists"); so does Ember,
// whether the name is a parameter's, a buffer's or a submodule's.
TEST_CASE("register_module, register_parameter and register_buffer refuse a name in use", "[nn]") {
  CHECK_THROWS_WITH(Registers("module", "module"),
                    Catch::Contains("cannot register submodule 'x': a submodule of that name already exists"));
  CHECK_THROWS_WITH(Registers("parameter", "module"), Catch::Contains("a parameter of that name already exists"));
  CHECK_THROWS_WITH(Registers("buffer", "module"), Catch::Contains("a buffer of that name already exists"));
  CHECK_THROWS_WITH(Registers("module", "parameter"), Catch::Contains("cannot register parameter 'x': a submodule"));
  CHECK_THROWS_WITH(Registers("module", "buffer"), Catch::Contains("cannot register buffer 'x': a submodule"));
  CHECK_THROWS_WITH(Registers("parameter", "parameter"), Catch::Contains("a parameter of that name already exists"));
  CHECK_THROWS_WITH(Registers("parameter", "buffer"), Catch::Contains("a parameter of that name already exists"));
  CHECK_THROWS_WITH(Registers("buffer", "parameter"), Catch::Contains("a buffer of that name already exists"));
  CHECK_THROWS_WITH(Registers("buffer", "buffer"), Catch::Contains("a buffer of that name already exists"));
  CHECK_THROWS_WITH(Registers("module", "parameter", "fc.x"), Catch::Contains("submodule names must be non-empty"));
  CHECK_THROWS_WITH(Registers("module", "parameter", ""), Catch::Contains("submodule names must be non-empty"));
  CHECK_THROWS_WITH(Registers("null", "parameter", "y"), Catch::Contains("submodule 'y' is null"));
}

// An undefined buffer or parameter is refused at registration, naming the module and the tensor
// (not later by state_dict() or to() with an error that names neither).
TEST_CASE("register_buffer and register_parameter refuse an undefined tensor", "[nn]") {
  CHECK_THROWS_WITH(Registers("undefined buffer", "parameter", "b"),
                    Catch::Contains("Registers: buffer 'b' is undefined"));
  CHECK_THROWS_WITH(Registers("undefined parameter", "buffer", "p"),
                    Catch::Contains("Registers: parameter 'p' is undefined"));
}
