#include <ember/nn/checkpoint.h>

#include <sstream>

#include <ember/core/error.h>
#include <ember/data/safetensors.h>

namespace ember::nn {

namespace {

const std::string kOptimPrefix = "optim.";
const std::string kEmberPrefix = "ember.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string exact(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

const std::string& required(const std::string& path, const std::map<std::string, std::string>& metadata,
                            const std::string& key) {
  auto found = metadata.find(key);
  EMBER_CHECK(found != metadata.end(), path, ": not an Ember checkpoint: __metadata__ has no '", key, "'");
  return found->second;
}

template <typename T, typename Parse>
T parse_number(const std::string& path, const std::string& key, const std::string& text, Parse parse) {
  try {
    size_t used = 0;
    T value = parse(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  EMBER_FAIL(path, ": metadata '", key, "' is not a number: '", text, "'");
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& module, const optim::Optimizer* optimizer, int64_t epoch,
                     Generator::State generator_state, const std::map<std::string, std::string>& extra_metadata) {
  std::map<std::string, Tensor> tensors = module.state_dict();
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : extra_metadata) {
    EMBER_CHECK(!starts_with(key, kEmberPrefix) && !starts_with(key, kOptimPrefix), "save_checkpoint: metadata key '",
                key, "' uses a reserved prefix (ember. or optim.)");
    metadata[key] = value;
  }
  metadata["ember.format"] = "ember-checkpoint-1";
  metadata["ember.epoch"] = std::to_string(epoch);
  metadata["ember.rng_seed"] = std::to_string(generator_state.seed);
  metadata["ember.rng_offset"] = std::to_string(generator_state.offset);
  if (optimizer != nullptr) {
    optim::OptimizerState state = optimizer->state_dict();
    metadata["optim.type"] = optimizer->name();
    for (const auto& [key, value] : state.scalars) metadata[kOptimPrefix + key] = exact(value);
    for (const auto& [key, tensor] : state.tensors) {
      std::string name = kOptimPrefix + key;
      EMBER_CHECK(!tensors.count(name), "save_checkpoint: optimizer key '", name, "' clashes with a model key");
      tensors[name] = tensor;
    }
  }
  data::save_safetensors(path, tensors, metadata);
}

CheckpointInfo load_checkpoint(const std::string& path, Module& module, optim::Optimizer* optimizer) {
  data::SafetensorsFile file = data::load_safetensors(path);
  CheckpointInfo info;
  info.epoch = parse_number<int64_t>(path, "ember.epoch", required(path, file.metadata, "ember.epoch"),
                                     [](const std::string& s, size_t* used) { return std::stoll(s, used); });
  info.generator_state.seed = parse_number<uint64_t>(path, "ember.rng_seed", required(path, file.metadata, "ember.rng_seed"),
                                                     [](const std::string& s, size_t* used) { return std::stoull(s, used); });
  info.generator_state.offset = parse_number<uint64_t>(path, "ember.rng_offset", required(path, file.metadata, "ember.rng_offset"),
                                                       [](const std::string& s, size_t* used) { return std::stoull(s, used); });
  for (const auto& [key, value] : file.metadata) {
    if (!starts_with(key, kEmberPrefix) && !starts_with(key, kOptimPrefix)) info.metadata[key] = value;
  }

  std::map<std::string, Tensor> model;
  optim::OptimizerState optim_state;
  for (const auto& [name, tensor] : file.tensors) {
    if (starts_with(name, kOptimPrefix)) optim_state.tensors[name.substr(kOptimPrefix.size())] = tensor;
    else model[name] = tensor;
  }
  try {
    module.load_state_dict(model, /*strict=*/true);
  } catch (const Error& e) {
    EMBER_FAIL(path, ": ", e.what());
  }
  if (optimizer != nullptr) {
    auto type = file.metadata.find("optim.type");
    EMBER_CHECK(type != file.metadata.end(), path, ": the checkpoint holds no optimizer state");
    EMBER_CHECK(type->second == optimizer->name(), path, ": the checkpoint holds ", type->second,
                " state, the optimizer is ", optimizer->name());
    for (const auto& [key, value] : file.metadata) {
      if (!starts_with(key, kOptimPrefix) || key == "optim.type") continue;
      std::string scalar = key.substr(kOptimPrefix.size());
      optim_state.scalars[scalar] = parse_number<double>(path, key, value, [](const std::string& s, size_t* used) {
        return std::stod(s, used);
      });
    }
    try {
      optimizer->load_state_dict(optim_state);
    } catch (const Error& e) {
      EMBER_FAIL(path, ": ", e.what());
    }
  }
  return info;
}

}  // namespace ember::nn
