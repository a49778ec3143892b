#include <ember/nn/checkpoint.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <vector>

#include <ember/core/error.h>
#include <ember/data/safetensors.h>

namespace ember::nn {

namespace {

const std::string kOptimPrefix = "optim.";
const std::string kEmberPrefix = "ember.";
// Epochs are counted in an int by the training loops.
constexpr int64_t kMaxEpoch = std::numeric_limits<int32_t>::max();

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

// The checkpoint layouts this Ember writes and reads; a newer one is refused rather than misread.
const std::string kFormat = "ember-checkpoint-1";
const std::vector<std::string> kReadableFormats = {kFormat};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// A non-negative decimal integer (digits only: no sign, space, exponent or fraction) no larger than max.
uint64_t parse_count(const std::string& path, const std::string& key, const std::string& text, uint64_t max) {
  bool digits = !text.empty() && text.size() <= 20 &&
                std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    errno = 0;
    unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == 0 && value <= max) return value;
  }
  EMBER_FAIL(path, ": metadata '", key, "' must be an integer in [0, ", max, "], got '", text, "'");
}

// A finite decimal number, as save_checkpoint writes them (no nan, inf, hex or spaces).
double parse_finite(const std::string& path, const std::string& key, const std::string& text) {
  bool plain = !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos;
  if (plain) {
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size() && errno == 0 && std::isfinite(value)) return value;
  }
  EMBER_FAIL(path, ": metadata '", key, "' must be a finite number, got '", text, "'");
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
  EMBER_CHECK(epoch >= 0 && epoch <= kMaxEpoch, "save_checkpoint: epoch must be in [0, ", kMaxEpoch, "], got ", epoch);
  metadata["ember.format"] = kFormat;
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
  // The metadata is checked before any tensor data is read: a file of another kind or version
  // fails at once, whatever its size.
  CheckpointInfo info;
  optim::OptimizerState optim_state;
  auto check_metadata = [&](const std::map<std::string, std::string>& metadata) {
    const std::string& format = required(path, metadata, "ember.format");
    EMBER_CHECK(std::find(kReadableFormats.begin(), kReadableFormats.end(), format) != kReadableFormats.end(), path,
                ": unsupported checkpoint format '", format, "' (this Ember reads ", joined(kReadableFormats), ")");
    info.epoch = static_cast<int64_t>(
        parse_count(path, "ember.epoch", required(path, metadata, "ember.epoch"), static_cast<uint64_t>(kMaxEpoch)));
    const uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
    info.generator_state.seed = parse_count(path, "ember.rng_seed", required(path, metadata, "ember.rng_seed"), kMaxU64);
    info.generator_state.offset =
        parse_count(path, "ember.rng_offset", required(path, metadata, "ember.rng_offset"), kMaxU64);
    for (const auto& [key, value] : metadata) {
      if (!starts_with(key, kEmberPrefix) && !starts_with(key, kOptimPrefix)) info.metadata[key] = value;
    }
    if (optimizer != nullptr) {
      auto type = metadata.find("optim.type");
      EMBER_CHECK(type != metadata.end(), path, ": the checkpoint holds no optimizer state");
      EMBER_CHECK(type->second == optimizer->name(), path, ": the checkpoint holds ", type->second,
                  " state, the optimizer is ", optimizer->name());
      for (const auto& [key, value] : metadata) {
        if (!starts_with(key, kOptimPrefix) || key == "optim.type") continue;
        std::string scalar = key.substr(kOptimPrefix.size());
        double number = parse_finite(path, key, value);
        // Step counts (optim.<i>.step) are whole and non-negative.
        if (scalar.size() >= 5 && scalar.compare(scalar.size() - 5, 5, ".step") == 0) {
          EMBER_CHECK(number >= 0 && number == std::floor(number) && number <= 9007199254740992.0, path,
                      ": metadata '", key, "' must be a whole number >= 0, got '", value, "'");
        }
        optim_state.scalars[scalar] = number;
      }
    }
  };
  data::SafetensorsFile file = data::load_safetensors(path, check_metadata);

  std::map<std::string, Tensor> model;
  for (const auto& [name, tensor] : file.tensors) {
    if (starts_with(name, kOptimPrefix)) optim_state.tensors[name.substr(kOptimPrefix.size())] = tensor;
    else model[name] = tensor;
  }
  try {
    // Both parts are checked before either is written: a refused checkpoint leaves the model and
    // the optimizer as they were (the model's weights are not replaced when the optimizer's fail).
    module.check_state_dict(model, /*strict=*/true);
    if (optimizer != nullptr) optimizer->check_state_dict(optim_state);
    module.load_state_dict(model, /*strict=*/true);
    if (optimizer != nullptr) optimizer->load_state_dict(optim_state);
  } catch (const Error& e) {
    EMBER_FAIL(path, ": ", e.what());
  }
  return info;
}

}  // namespace ember::nn
