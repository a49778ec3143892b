// Training checkpoints as safetensors files: the model's tensors under their state_dict names
// (so Python's safetensors + load_state_dict reads them into PyTorch's Net), the optimizer's
// state tensors under "optim.<key>", and the epoch, the generator state and the optimizer's
// scalars in __metadata__ (as strings, "ember.epoch", "ember.rng_seed", "optim.lr", ...).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include <ember/core/random.h>
#include <ember/nn/module.h>
#include <ember/optim/optimizer.h>

namespace ember::nn {

struct CheckpointInfo {
  int64_t epoch = 0;
  Generator::State generator_state;
  std::map<std::string, std::string> metadata;  // the caller's extra entries
};

// optimizer may be null. Extra metadata keys must not start with "ember." or "optim.".
// epoch must be in [0, 2^31 - 1].
// The write is atomic (temporary file, fsync, rename).
void save_checkpoint(const std::string& path, const Module& module, const optim::Optimizer* optimizer, int64_t epoch,
                     Generator::State generator_state, const std::map<std::string, std::string>& extra_metadata = {});

// Restores the module (strict: every key present, shapes and dtypes equal) and, when given, the
// optimizer (which must be of the kind that saved it; its lr and initial_lr come back, so a StepLR
// made before or after loading continues with set_epoch(info.epoch)); both parts are checked before
// either is written, so a refused checkpoint leaves the module and the optimizer as they were.
// Returns the epoch, RNG state and extras; the RNG state is not applied (the caller does, e.g.
// default_generator().set_state(info.generator_state)).
// The metadata is validated before any tensor data is read: ember.format must be a version this
// Ember reads (ember-checkpoint-1); ember.epoch an integer in [0, 2^31 - 1]; ember.rng_seed and
// ember.rng_offset unsigned 64-bit integers (decimal digits only); optim.* scalars finite numbers
// (step counts whole). Every error names the file and, for metadata, the field.
CheckpointInfo load_checkpoint(const std::string& path, Module& module, optim::Optimizer* optimizer = nullptr);

}  // namespace ember::nn
