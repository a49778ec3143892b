// nn::Sequential: submodules named "0", "1", ...; forward feeds each one's output to the next.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include <ember/nn/module.h>

namespace ember::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  void push_back(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& input) override;
  size_t size() const { return modules_.size(); }
  // The i-th module; a negative i counts from the end, as PyTorch's seq[-1].
  const std::shared_ptr<Module>& operator[](int64_t i) const;

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace ember::nn
