#include <catch2/catch.hpp>

#include <cmath>
#include <memory>

#include <ember/ember.h>
#include <ember/optim/optim.h>

#include "support/test_support.h"

using namespace ember;

namespace {

// The gradients fed to the optimizer at each of the three steps (fixed, not from a loss, so the
// expected values can be worked out by hand).
const std::vector<std::vector<double>> kGrads{{0.5, -1.0, 2.0}, {0.25, 0.5, -1.5}, {-0.75, 1.0, 0.125}};
const std::vector<double> kStart{1.0, -2.0, 0.5};

Tensor make_param(DType dtype = kFloat64) {
  Tensor p = from_vector(kStart, {3}).to(dtype);
  p.set_requires_grad(true);
  return p;
}

void set_grad(const Tensor& p, const std::vector<double>& g) { p.set_grad(from_vector(g, {3}).to(p.dtype())); }

template <typename Opt>
std::vector<double> run_three_steps(Opt& opt, const Tensor& p) {
  for (const auto& g : kGrads) {
    set_grad(p, g);
    opt.step();
  }
  return p.to_vector<double>();
}

void check_close(const std::vector<double>& actual, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i);
    CHECK(actual[i] == Approx(expected[i]).margin(tol).epsilon(tol));
  }
}

// PyTorch's SGD, written out per element.
std::vector<double> sgd_reference(double lr, double momentum, double dampening, double wd, bool nesterov) {
  std::vector<double> p = kStart, buf(3, 0.0);
  for (size_t step = 0; step < kGrads.size(); ++step) {
    for (size_t i = 0; i < 3; ++i) {
      double d = kGrads[step][i] + wd * p[i];
      if (momentum != 0) {
        buf[i] = step == 0 ? d : momentum * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  }
  return p;
}

// Adam / AdamW with the textbook bias-corrected estimates m_hat, v_hat.
std::vector<double> adam_reference(double lr, double b1, double b2, double eps, double wd, bool decoupled) {
  std::vector<double> p = kStart, m(3, 0.0), v(3, 0.0);
  for (size_t step = 0; step < kGrads.size(); ++step) {
    double t = static_cast<double>(step + 1);
    for (size_t i = 0; i < 3; ++i) {
      double g = kGrads[step][i];
      if (decoupled) p[i] *= 1 - lr * wd;
      else g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double m_hat = m[i] / (1 - std::pow(b1, t)), v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  return p;
}

std::vector<double> adadelta_reference(double lr, double rho, double eps, double wd) {
  std::vector<double> p = kStart, sq(3, 0.0), acc(3, 0.0);
  for (size_t step = 0; step < kGrads.size(); ++step) {
    for (size_t i = 0; i < 3; ++i) {
      double g = kGrads[step][i] + wd * p[i];
      sq[i] = rho * sq[i] + (1 - rho) * g * g;
      double delta = std::sqrt(acc[i] + eps) / std::sqrt(sq[i] + eps) * g;
      acc[i] = rho * acc[i] + (1 - rho) * delta * delta;
      p[i] -= lr * delta;
    }
  }
  return p;
}

}  // namespace

TEST_CASE("SGD plain and with momentum: hand-computed values", "[optim]") {
  {
    Tensor p = make_param();
    optim::SGD opt({p}, optim::SGDOptions(0.1));
    // p - 0.1 * (g1 + g2 + g3) = p - 0.1 * {0, 0.5, 0.625}
    check_close(run_three_steps(opt, p), {1.0, -2.05, 0.4375});
  }
  {
    Tensor p = make_param();
    optim::SGD opt({p}, optim::SGDOptions(0.1).momentum(0.9));
    // element 0: b = 0.5, 0.7, -0.12; p = 1 - 0.05 - 0.07 + 0.012 = 0.892
    std::vector<double> out = run_three_steps(opt, p);
    CHECK(out[0] == Approx(0.892).margin(1e-12));
    check_close(out, sgd_reference(0.1, 0.9, 0.0, 0.0, false));
  }
}

TEST_CASE("a step between a forward and its backward is refused, as in PyTorch", "[optim]") {
  // The forward saved w; the step writes w; the backward would use the new values.
  Tensor w = from_vector<double>({1.0, 2.0}, {2}).set_requires_grad(true);
  Tensor x = from_vector<double>({3.0, 4.0}, {2});
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  sum(w * x).backward();
  Tensor pending = sum(w * w * x);
  opt.step();
  CHECK_THROWS_WITH(pending.backward(), Catch::Contains("modified by an in-place operation"));
  // The usual order (forward, backward, step) is untouched.
  opt.zero_grad();
  sum(w * w * x).backward();
  CHECK_NOTHROW(opt.step());
}

TEST_CASE("SGD momentum with dampening, nesterov and weight decay", "[optim]") {
  struct Case { double momentum, dampening, wd; bool nesterov; };
  for (Case c : {Case{0.9, 0.0, 0.0, true}, Case{0.9, 0.3, 0.01, false}, Case{0.5, 0.0, 0.1, true}, Case{0.0, 0.0, 0.05, false}}) {
    INFO("momentum " << c.momentum << " dampening " << c.dampening << " wd " << c.wd << " nesterov " << c.nesterov);
    Tensor p = make_param();
    optim::SGD opt({p}, optim::SGDOptions(0.05).momentum(c.momentum).dampening(c.dampening).weight_decay(c.wd).nesterov(c.nesterov));
    check_close(run_three_steps(opt, p), sgd_reference(0.05, c.momentum, c.dampening, c.wd, c.nesterov));
  }
  Tensor p = make_param();
  CHECK_THROWS_WITH(optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)), Catch::Contains("nesterov"));
}

TEST_CASE("SGD in float32 and with several parameters", "[optim]") {
  Tensor a = make_param(kFloat32), b = make_param(kFloat64), c = make_param(kFloat32);
  optim::SGD opt({a, b, c}, optim::SGDOptions(0.1).momentum(0.9));
  for (const auto& g : kGrads) {
    set_grad(a, g);
    set_grad(b, g);  // c never gets a gradient: left alone
    opt.step();
  }
  std::vector<double> expected = sgd_reference(0.1, 0.9, 0.0, 0.0, false);
  check_close(a.to_vector<double>(), expected, 1e-6);
  check_close(b.to_vector<double>(), expected);
  check_close(c.to_vector<double>(), kStart);
  opt.zero_grad();
  CHECK(a.grad().to_vector<double>() == std::vector<double>{0, 0, 0});
  opt.zero_grad(true);
  CHECK(!a.grad().defined());
}

TEST_CASE("Adam and AdamW: bias-corrected updates", "[optim]") {
  {
    Tensor p = make_param();
    optim::Adam opt({p}, optim::AdamOptions(0.1));
    std::vector<double> out = run_three_steps(opt, p);
    // The first Adam step moves each element by about lr * sign(g).
    check_close(out, adam_reference(0.1, 0.9, 0.999, 1e-8, 0.0, false), 1e-10);
  }
  {
    Tensor p = make_param();
    optim::Adam opt({p}, optim::AdamOptions(0.01).betas(0.8, 0.99).eps(1e-6).weight_decay(0.1));
    check_close(run_three_steps(opt, p), adam_reference(0.01, 0.8, 0.99, 1e-6, 0.1, false), 1e-10);
  }
  {
    Tensor p = make_param();
    optim::AdamW opt({p}, optim::AdamOptions(0.01).weight_decay(0.01));
    check_close(run_three_steps(opt, p), adam_reference(0.01, 0.9, 0.999, 1e-8, 0.01, true), 1e-10);
  }
  {
    Tensor p = make_param();
    optim::Adam one_step({p}, optim::AdamOptions(0.1));
    set_grad(p, kGrads[0]);
    one_step.step();
    // step 1: m_hat = g, v_hat = g^2, so p -= 0.1 * g / (|g| + 1e-8).
    check_close(p.to_vector<double>(), {0.9, -1.9, 0.4}, 1e-7);
  }
}

// torch.optim.AdamW(lr=0.1) defaults to weight_decay=0.01; an explicit weight decay, 0 included, is kept.
TEST_CASE("AdamW decays by 1e-2 unless the options set weight_decay, as torch.optim.AdamW", "[optim]") {
  {
    Tensor p = make_param();
    optim::AdamW opt({p}, optim::AdamOptions(0.1));
    CHECK(opt.options().weight_decay_ == 0.01);
    CHECK(opt.state_dict().scalars.at("weight_decay") == 0.01);
    // torch 1.13: AdamW([p], lr=0.1) stepped with kGrads from kStart (float64).
    check_close(run_three_steps(opt, p), {0.8122758370683025, -1.8948685078523224, 0.379688917536942});
    check_close(p.to_vector<double>(), adam_reference(0.1, 0.9, 0.999, 1e-8, 0.01, true));
  }
  {
    Tensor p = make_param();
    optim::AdamW opt({p}, optim::AdamOptions(0.1).weight_decay(0.0));
    CHECK(opt.options().weight_decay_ == 0.0);
    check_close(run_three_steps(opt, p), adam_reference(0.1, 0.9, 0.999, 1e-8, 0.0, true));
  }
  {
    optim::AdamOptions options(0.1);
    options.weight_decay_ = 0.0;  // set directly, not through the setter: still explicit
    Tensor p = make_param();
    CHECK(optim::AdamW({p}, options).options().weight_decay_ == 0.0);
    // An explicit NaN is not "unset": it is refused like any invalid value.
    CHECK_THROWS_WITH(optim::AdamW({p}, optim::AdamOptions(0.1).weight_decay(std::nan(""))),
                      Catch::Contains("weight_decay (nan) must be >= 0"));
  }
  {
    Tensor p = make_param();
    optim::Adam opt({p}, optim::AdamOptions(0.1));  // Adam's default stays 0
    CHECK(opt.options().weight_decay_ == 0.0);
    check_close(run_three_steps(opt, p), adam_reference(0.1, 0.9, 0.999, 1e-8, 0.0, false));
  }
  // A zero gradient: the step is the decay alone (torch: 0.999).
  Tensor w = ones({1}, kFloat64).set_requires_grad(true);
  optim::AdamW opt({w}, optim::AdamOptions(0.1));
  w.set_grad(zeros({1}, kFloat64));
  opt.step();
  CHECK(w.item() == Approx(0.999).epsilon(1e-15));
}

TEST_CASE("Adadelta: hand-computed updates", "[optim]") {
  {
    Tensor p = make_param();
    optim::Adadelta opt({p}, optim::AdadeltaOptions());
    check_close(run_three_steps(opt, p), adadelta_reference(1.0, 0.9, 1e-6, 0.0), 1e-10);
  }
  {
    Tensor p = make_param();
    optim::Adadelta opt({p}, optim::AdadeltaOptions(0.5).rho(0.95).eps(1e-4).weight_decay(0.1));
    check_close(run_three_steps(opt, p), adadelta_reference(0.5, 0.95, 1e-4, 0.1), 1e-10);
  }
}

TEST_CASE("optimizer state_dict round trip continues identically", "[optim]") {
  Tensor p1 = make_param(), p2 = make_param();
  optim::Adam a({p1}, optim::AdamOptions(0.1));
  set_grad(p1, kGrads[0]);
  a.step();
  optim::OptimizerState state = a.state_dict();
  CHECK(state.tensors.count("0.exp_avg"));
  CHECK(state.tensors.count("0.exp_avg_sq"));
  CHECK(state.scalars.at("0.step") == 1.0);
  CHECK(state.scalars.at("lr") == 0.1);

  {
    NoGradGuard no_grad;
    p2.copy_(p1);
  }
  optim::Adam b({p2}, optim::AdamOptions(0.5));
  b.load_state_dict(state);
  CHECK(b.lr() == 0.1);
  for (size_t s = 1; s < kGrads.size(); ++s) {
    set_grad(p1, kGrads[s]);
    set_grad(p2, kGrads[s]);
    a.step();
    b.step();
  }
  CHECK(p1.to_vector<double>() == p2.to_vector<double>());

  optim::OptimizerState bad = state;
  bad.tensors["0.exp_avg"] = zeros({4}, kFloat64);
  CHECK_THROWS_WITH(b.load_state_dict(bad), Catch::Contains("0.exp_avg") && Catch::Contains("[4]"));
  bad = state;
  bad.tensors["3.exp_avg"] = zeros({3}, kFloat64);
  CHECK_THROWS_WITH(b.load_state_dict(bad), Catch::Contains("unexpected state tensor '3.exp_avg'"));
}

namespace {

// Two parameters stepped `steps` times with random never-zero gradients; the second gets no
// gradient at step 1, so the two step counts differ (each parameter's bias correction is its own).
struct TwoParams {
  Tensor a, b;
  explicit TwoParams(DType dtype) {
    a = testing::random_tensor({4, 3}, 1, 0.1, 1.0, dtype);
    b = testing::random_tensor({5}, 2, -1.0, -0.1, dtype);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
  }
  void set_grads(int step) {
    a.set_grad(testing::random_tensor({4, 3}, 100 + step, 0.1, 1.0, a.dtype()) * (step % 2 ? -1.0 : 1.0));
    b.set_grad(step == 1 ? Tensor() : testing::random_tensor({5}, 200 + step, 0.1, 1.0, b.dtype()));
  }
  template <typename Opt>
  void run(Opt& opt, int first_step, int last_step) {
    for (int s = first_step; s <= last_step; ++s) {
      set_grads(s);
      opt.step();
    }
  }
  std::vector<double> values() const {
    std::vector<double> out = a.to_vector<double>(), more = b.to_vector<double>();
    out.insert(out.end(), more.begin(), more.end());
    return out;
  }
};

std::unique_ptr<optim::Adam> make_adam(TwoParams& p, bool decoupled, bool capturable) {
  optim::AdamOptions options = optim::AdamOptions(0.05).betas(0.8, 0.95).weight_decay(0.02).capturable(capturable);
  if (decoupled) return std::make_unique<optim::AdamW>(TensorList{p.a, p.b}, options);
  return std::make_unique<optim::Adam>(TensorList{p.a, p.b}, options);
}

}  // namespace

TEST_CASE("capturable Adam and AdamW give the numbers of the default ones", "[optim]") {
  for (DType dtype : {kFloat64, kFloat32}) {
    for (bool decoupled : {false, true}) {
      INFO((decoupled ? "AdamW " : "Adam ") << dtype_name(dtype));
      TwoParams host(dtype), device(dtype);
      auto host_opt = make_adam(host, decoupled, false);
      auto device_opt = make_adam(device, decoupled, true);
      host.run(*host_opt, 1, 7);
      device.run(*device_opt, 1, 7);
      // Same expression, same order, bias corrections in double: bit for bit.
      CHECK(device.values() == host.values());
      optim::OptimizerState state = device_opt->state_dict();
      CHECK(state.scalars.at("0.step") == 7.0);
      CHECK(state.scalars.at("1.step") == 6.0);
      CHECK(host_opt->state_dict().scalars == state.scalars);
    }
  }
}

TEST_CASE("Adam state_dict moves between capturable and not", "[optim]") {
  for (bool decoupled : {false, true}) {
    INFO((decoupled ? "AdamW" : "Adam"));
    TwoParams reference(kFloat64);
    auto reference_opt = make_adam(reference, decoupled, false);
    reference.run(*reference_opt, 1, 6);
    for (bool save_capturable : {false, true}) {
      INFO("saved from " << (save_capturable ? "capturable" : "default") << ", loaded into the other");
      TwoParams first(kFloat64), second(kFloat64);
      auto saver = make_adam(first, decoupled, save_capturable);
      first.run(*saver, 1, 3);
      optim::OptimizerState state = saver->state_dict();
      CHECK(state.scalars.at("0.step") == 3.0);
      CHECK(state.scalars.at("1.step") == 2.0);
      {
        NoGradGuard no_grad;
        second.a.copy_(first.a);
        second.b.copy_(first.b);
      }
      auto loader = make_adam(second, decoupled, !save_capturable);
      loader->load_state_dict(state);
      second.run(*loader, 4, 6);
      CHECK(second.values() == reference.values());
      CHECK(loader->state_dict().scalars.at("0.step") == 6.0);
      // Loading again restarts the count from the checkpoint (a capturable one too).
      loader->load_state_dict(state);
      CHECK(loader->state_dict().scalars.at("0.step") == 3.0);
    }
  }
}

TEST_CASE("SGD keeps no step count, an old state dict with one still loads", "[optim]") {
  TwoParams first(kFloat64), second(kFloat64);
  optim::SGD saver({first.a, first.b}, optim::SGDOptions(0.1).momentum(0.9));
  first.run(saver, 1, 3);
  optim::OptimizerState state = saver.state_dict();
  CHECK(state.scalars.count("0.step") == 0);
  CHECK(state.tensors.count("0.momentum_buffer") == 1);
  state.scalars["0.step"] = 3.0;  // as checkpoints written before SGD stopped counting have it
  {
    NoGradGuard no_grad;
    second.a.copy_(first.a);
    second.b.copy_(first.b);
  }
  optim::SGD loader({second.a, second.b}, optim::SGDOptions(0.1).momentum(0.9));
  loader.load_state_dict(state);
  CHECK(loader.state_dict().scalars.count("0.step") == 0);
  first.run(saver, 4, 5);
  second.run(loader, 4, 5);
  CHECK(second.values() == first.values());
}

// As PyTorch restores its param_groups: the hyperparameters come back with the state, checked as
// the constructor checks them (a bad one leaves the optimizer's options as they were).
TEST_CASE("load_state_dict restores the hyperparameters and checks them", "[optim]") {
  TwoParams p(kFloat64);
  optim::SGD saved_sgd({p.a, p.b}, optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01).nesterov(true));
  optim::SGD sgd({p.a, p.b}, optim::SGDOptions(0.5));
  sgd.load_state_dict(saved_sgd.state_dict());
  CHECK((sgd.lr() == 0.1 && sgd.options().momentum_ == 0.9 && sgd.options().weight_decay_ == 0.01 &&
         sgd.options().nesterov_));
  optim::OptimizerState bad = saved_sgd.state_dict();
  bad.scalars["momentum"] = -1.0;
  CHECK_THROWS_WITH(sgd.load_state_dict(bad), Catch::Contains("SGD: momentum (-1)"));
  CHECK(sgd.options().momentum_ == 0.9);

  optim::Adam saved_adam({p.a, p.b}, optim::AdamOptions(0.01).betas(0.8, 0.99).eps(1e-6));
  optim::Adam adam({p.a, p.b}, optim::AdamOptions(0.02));
  adam.load_state_dict(saved_adam.state_dict());
  CHECK((adam.options().beta1_ == 0.8 && adam.options().beta2_ == 0.99 && adam.options().eps_ == 1e-6));
  bad = saved_adam.state_dict();
  bad.scalars["beta2"] = 1.5;
  CHECK_THROWS_WITH(adam.load_state_dict(bad), Catch::Contains("Adam: betas must be in [0, 1)"));

  optim::Adadelta saved_adadelta({p.a, p.b}, optim::AdadeltaOptions(1.0).rho(0.5));
  optim::Adadelta adadelta({p.a, p.b}, optim::AdadeltaOptions(1.0));
  adadelta.load_state_dict(saved_adadelta.state_dict());
  CHECK(adadelta.options().rho_ == 0.5);
}

// docs/api.md: a value the constructor would refuse is refused, and the options (lr included)
// stay as they were; so do the state tensors and step counts.
TEST_CASE("a refused optimizer state changes nothing, the lr included", "[optim]") {
  TwoParams p(kFloat64);
  optim::Adam adam({p.a, p.b}, optim::AdamOptions(0.01));
  p.run(adam, 0, 2);
  optim::OptimizerState before = adam.state_dict();
  optim::OptimizerState bad = before;
  bad.scalars["lr"] = 0.5;
  bad.scalars["initial_lr"] = 0.5;
  bad.scalars["0.step"] = 7;
  bad.tensors["0.exp_avg"] = ones({4, 3}, kFloat64);
  bad.scalars["beta1"] = 1.5;
  CHECK_THROWS_WITH(adam.load_state_dict(bad), Catch::Contains("Adam: betas must be in [0, 1)"));
  CHECK(adam.lr() == 0.01);
  CHECK(!adam.initial_lr().has_value());
  CHECK(adam.options().beta1_ == 0.9);
  optim::OptimizerState after = adam.state_dict();
  CHECK(after.scalars == before.scalars);
  CHECK(after.tensors.at("0.exp_avg").to_vector<double>() == before.tensors.at("0.exp_avg").to_vector<double>());
  bad = before;
  bad.scalars["lr"] = 0.5;
  bad.scalars["1.step"] = -1;
  CHECK_THROWS_WITH(adam.load_state_dict(bad), Catch::Contains("'1.step' must be a whole number >= 0, got -1"));
  CHECK(adam.lr() == 0.01);
  bad = before;
  bad.scalars["lr"] = -0.5;
  CHECK_THROWS_WITH(adam.load_state_dict(bad), Catch::Contains("learning rate must be >= 0, got -0.5"));
  CHECK(adam.lr() == 0.01);

  optim::SGD sgd({p.a, p.b}, optim::SGDOptions(0.1).momentum(0.9));
  bad = sgd.state_dict();
  bad.scalars["lr"] = 0.5;
  bad.scalars["nesterov"] = 1.0;
  bad.scalars["dampening"] = 0.5;
  CHECK_THROWS_WITH(sgd.load_state_dict(bad), Catch::Contains("SGD: nesterov needs momentum > 0 and dampening == 0"));
  CHECK((sgd.lr() == 0.1 && !sgd.options().nesterov_ && sgd.options().dampening_ == 0.0));

  optim::Adadelta adadelta({p.a, p.b}, optim::AdadeltaOptions(1.0));
  bad = adadelta.state_dict();
  bad.scalars["lr"] = 0.5;
  bad.scalars["rho"] = 2.0;
  CHECK_THROWS_WITH(adadelta.load_state_dict(bad), Catch::Contains("Adadelta: rho must be in [0, 1], got 2"));
  CHECK((adadelta.lr() == 1.0 && adadelta.options().rho_ == 0.9));
  // check_state_dict throws as load_state_dict would, and a good state passes.
  CHECK_THROWS_WITH(adadelta.check_state_dict(bad), Catch::Contains("rho must be in [0, 1]"));
  CHECK_NOTHROW(adam.check_state_dict(before));
}

TEST_CASE("capturable Adadelta gives the numbers of the default one and counts its steps", "[optim]") {
  for (DType dtype : {kFloat64, kFloat32}) {
    INFO(dtype_name(dtype));
    auto make = [](TwoParams& p, bool capturable) {
      return optim::Adadelta({p.a, p.b}, optim::AdadeltaOptions(0.5).rho(0.8).weight_decay(0.01).capturable(capturable));
    };
    TwoParams host(dtype), device(dtype);
    optim::Adadelta host_opt = make(host, false), device_opt = make(device, true);
    host.run(host_opt, 1, 5);
    device.run(device_opt, 1, 5);
    CHECK(device.values() == host.values());
    optim::OptimizerState state = device_opt.state_dict();
    CHECK(state.scalars.at("0.step") == 5.0);
    CHECK(state.scalars.at("1.step") == 4.0);
    CHECK(host_opt.state_dict().scalars == state.scalars);
    // Saved from the capturable one, loaded into a default one, continued: the same as never stopping.
    TwoParams resumed(dtype);
    {
      NoGradGuard no_grad;
      resumed.a.copy_(device.a);
      resumed.b.copy_(device.b);
    }
    optim::Adadelta loader = make(resumed, false);
    loader.load_state_dict(state);
    host.run(host_opt, 6, 7);
    resumed.run(loader, 6, 7);
    CHECK(resumed.values() == host.values());
    CHECK(loader.state_dict().scalars.at("0.step") == 7.0);
    // And the other way: saved from the default one, loaded into a capturable one.
    TwoParams onto_device(dtype);
    {
      NoGradGuard no_grad;
      onto_device.a.copy_(host.a);
      onto_device.b.copy_(host.b);
    }
    optim::Adadelta device_loader = make(onto_device, true);
    device_loader.load_state_dict(host_opt.state_dict());
    host.run(host_opt, 8, 9);
    onto_device.run(device_loader, 8, 9);
    CHECK(onto_device.values() == host.values());
    CHECK(device_loader.state_dict().scalars == host_opt.state_dict().scalars);
    CHECK(device_loader.state_dict().scalars.at("0.step") == 9.0);
  }
}

TEST_CASE("StepLR decays every step_size epochs", "[optim]") {
  Tensor p = make_param();
  optim::SGD opt({p}, optim::SGDOptions(1.0));
  optim::StepLR sched(opt, 2, 0.5);
  std::vector<double> lrs;
  for (int e = 0; e < 5; ++e) {
    lrs.push_back(opt.lr());
    sched.step();
  }
  CHECK(lrs == std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25});
  sched.set_epoch(6);
  CHECK(opt.lr() == 0.125);
  CHECK(sched.last_epoch() == 6);
  CHECK_THROWS(optim::StepLR(opt, 0));
}

// PyTorch keeps param_group["initial_lr"] (set by the first scheduler, saved with the optimizer),
// so a scheduler made after loading a checkpoint does not decay the restored lr a second time.
TEST_CASE("StepLR made after loading an optimizer state continues the schedule", "[optim]") {
  Tensor w = make_param();
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  CHECK_FALSE(opt.initial_lr().has_value());
  optim::StepLR s1(opt, 1, 0.5);
  CHECK(opt.initial_lr() == 0.1);
  s1.step();
  s1.step();  // epoch 2: lr 0.025
  optim::OptimizerState saved = opt.state_dict();
  CHECK(saved.scalars.at("lr") == 0.025);
  CHECK(saved.scalars.at("initial_lr") == 0.1);

  auto resume = [&](const optim::OptimizerState& state, bool scheduler_first) {
    Tensor w2 = make_param();
    optim::SGD opt2({w2}, optim::SGDOptions(0.1));
    std::unique_ptr<optim::StepLR> s2;
    if (scheduler_first) s2 = std::make_unique<optim::StepLR>(opt2, 1, 0.5);  // as train_mnist does
    opt2.load_state_dict(state);
    CHECK(opt2.lr() == 0.025);
    if (!scheduler_first) s2 = std::make_unique<optim::StepLR>(opt2, 1, 0.5);
    CHECK(s2->base_lr() == 0.1);
    s2->set_epoch(2);
    CHECK(opt2.lr() == opt.lr());
    s2->step();
    return opt2.lr();
  };
  const double next = opt.lr() * 0.5;
  CHECK(resume(saved, false) == next);
  CHECK(resume(saved, true) == next);
  // A state saved before Ember kept initial_lr: the lr the optimizer was made with stands in.
  optim::OptimizerState old = saved;
  old.scalars.erase("initial_lr");
  CHECK(resume(old, false) == next);
  CHECK(resume(old, true) == next);

  // As PyTorch's setdefault: the first scheduler takes the lr of the moment, later ones keep it.
  Tensor w3 = make_param();
  optim::SGD opt3({w3}, optim::SGDOptions(1.0));
  opt3.set_lr(0.4);
  optim::StepLR first(opt3, 1, 0.5);
  first.step();
  optim::StepLR second(opt3, 1, 0.5);
  CHECK((first.base_lr() == 0.4 && second.base_lr() == 0.4));
  optim::OptimizerState bad = saved;
  bad.scalars["initial_lr"] = -1.0;
  CHECK_THROWS_WITH(opt3.load_state_dict(bad), Catch::Contains("initial_lr must be >= 0"));
}

TEST_CASE("optimizer checks its parameters", "[optim]") {
  Tensor leaf = make_param();
  Tensor not_leaf = leaf * 2.0;
  CHECK_THROWS_WITH(optim::SGD({leaf, not_leaf}, optim::SGDOptions(0.1)), Catch::Contains("parameter 1 is not a leaf"));
  Tensor p = make_param();
  CHECK_THROWS_WITH(optim::SGD({p}, optim::SGDOptions(-1)), Catch::Contains("learning rate"));
  // The same tensor twice would be updated twice per step.
  Tensor q = make_param();
  CHECK_THROWS_WITH(optim::Adam({p, q, p}, optim::AdamOptions(0.1)),
                    Catch::Contains("parameters 0 and 2 are the same tensor"));
}

// As PyTorch: a frozen parameter (a leaf that does not require grad) is accepted and, having no
// gradient, left alone by step(); the state dict round-trips with it in the list.
TEST_CASE("optimizers accept frozen parameters and skip them, state dicts round-trip", "[optim]") {
  auto check_kind = [](const std::string& kind) {
    INFO(kind);
    auto make = [&](const TensorList& params) -> std::unique_ptr<optim::Optimizer> {
      if (kind == "SGD") return std::make_unique<optim::SGD>(params, optim::SGDOptions(0.1).momentum(0.9));
      if (kind == "Adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(0.1));
      if (kind == "AdamW") return std::make_unique<optim::AdamW>(params, optim::AdamOptions(0.1));
      return std::make_unique<optim::Adadelta>(params, optim::AdadeltaOptions(1.0));
    };
    Tensor frozen = from_vector(kStart, {3});
    Tensor trained = make_param();
    REQUIRE(!frozen.requires_grad());
    std::unique_ptr<optim::Optimizer> opt = make({frozen, trained});
    set_grad(trained, kGrads[0]);
    opt->step();
    CHECK(frozen.to_vector<double>() == kStart);
    CHECK(trained.to_vector<double>() != kStart);
    optim::OptimizerState state = opt->state_dict();
    for (const auto& [key, tensor] : state.tensors) CHECK(key.rfind("1.", 0) == 0);  // no state for the frozen one
    CHECK(!state.scalars.count("0.step"));

    Tensor frozen2 = from_vector(kStart, {3}), trained2 = make_param();
    {
      NoGradGuard no_grad;
      trained2.copy_(trained);
    }
    std::unique_ptr<optim::Optimizer> restored = make({frozen2, trained2});
    restored->load_state_dict(state);
    CHECK(restored->state_dict().tensors.size() == state.tensors.size());
    for (size_t s = 1; s < kGrads.size(); ++s) {
      set_grad(trained, kGrads[s]);
      set_grad(trained2, kGrads[s]);
      opt->step();
      restored->step();
    }
    CHECK(trained.to_vector<double>() == trained2.to_vector<double>());
    CHECK(frozen2.to_vector<double>() == kStart);
  };
  for (const char* kind : {"SGD", "Adam", "AdamW", "Adadelta"}) check_kind(kind);

  // Parameters of a module with a frozen layer, as after fine-tuning's requires_grad_(false).
  auto net = std::make_shared<nn::Linear>(3, 2);
  net->weight.set_requires_grad(false);
  optim::SGD sgd(net->parameters(), optim::SGDOptions(0.1));
  CHECK(sgd.parameters().size() == 2);
}
