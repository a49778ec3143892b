// The umbrella header of Ember: #include <ember/ember.h> brings in the whole public API.
#pragma once

#include <ember_generated/version.h>

#include <ember/core/cuda.h>
#include <ember/core/device.h>
#include <ember/core/dtype.h>
#include <ember/core/error.h>
#include <ember/core/random.h>
#include <ember/core/tensor.h>
#include <ember/core/version.h>

#include <ember/autograd/engine.h>
#include <ember/autograd/grad_mode.h>
#include <ember/autograd/node.h>

#include <ember/ops/ops.h>
