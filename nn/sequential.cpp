#include <ember/nn/sequential.h>

#include <string>

#include <ember/core/error.h>

namespace ember::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (const auto& module : modules) push_back(module);
}

void Sequential::push_back(std::shared_ptr<Module> module) {
  EMBER_CHECK(module != nullptr, "Sequential: cannot add a null module at position ", modules_.size());
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

const std::shared_ptr<Module>& Sequential::operator[](int64_t i) const {
  int64_t size = static_cast<int64_t>(modules_.size());
  EMBER_CHECK(i >= -size && i < size, "Sequential: index ", i, " is out of range for ", size, " modules");
  return modules_[static_cast<size_t>(i < 0 ? i + size : i)];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (auto& module : modules_) x = module->forward(x);
  return x;
}

}  // namespace ember::nn
