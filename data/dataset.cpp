#include <ember/data/dataset.h>

#include <ember/core/error.h>

namespace ember::data {

TensorDataset::TensorDataset(Tensor data, Tensor targets) : data_(std::move(data)), targets_(std::move(targets)) {
  EMBER_CHECK(data_.defined() && targets_.defined() && data_.dim() >= 1 && targets_.dim() >= 1 &&
                  data_.size(0) == targets_.size(0),
              "TensorDataset: data and targets need the same first dimension, got ",
              data_.defined() ? data_.str() : "undefined", " and ", targets_.defined() ? targets_.str() : "undefined");
}

Example TensorDataset::get(int64_t index) const {
  EMBER_CHECK(index >= 0 && index < size(), "TensorDataset: index ", index, " out of range [0, ", size(), ")");
  return {data_.select(0, index), targets_.select(0, index)};
}

}  // namespace ember::data
