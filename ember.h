// The umbrella header of Ember: #include <ember/ember.h> brings in the whole public API, i.e. every
// installed header (cmake/EmberInstall.cmake; the public_headers_plain_cxx test checks this list,
// .ci/update-umbrella regenerates it). Nothing here includes a CUDA header: programs using Ember
// compile with a plain C++ compiler.
#pragma once

#include <ember_generated/version.h>

// Tensors, devices, dtypes, random numbers, the CUDA runtime as the API sees it.
#include <ember/core/allocator.h>
#include <ember/core/atomic_file.h>
#include <ember/core/blas.h>
#include <ember/core/cuda.h>
#include <ember/core/cuda_graph.h>
#include <ember/core/device.h>
#include <ember/core/dtype.h>
#include <ember/core/error.h>
#include <ember/core/memory_overlap.h>
#include <ember/core/profiler.h>
#include <ember/core/random.h>
#include <ember/core/shape.h>
#include <ember/core/storage.h>
#include <ember/core/tensor.h>
#include <ember/core/threads.h>
#include <ember/core/version.h>

// The autograd graph, grad mode and the backward engine.
#include <ember/autograd/accumulate_grad.h>
#include <ember/autograd/engine.h>
#include <ember/autograd/grad_mode.h>
#include <ember/autograd/node.h>

// The differentiable op library.
#include <ember/ops/ops.h>

// Modules, layers, losses, initialisation, checkpoints.
#include <ember/nn/checkpoint.h>
#include <ember/nn/conv.h>
#include <ember/nn/init.h>
#include <ember/nn/layers.h>
#include <ember/nn/linear.h>
#include <ember/nn/loss.h>
#include <ember/nn/mnist_net.h>
#include <ember/nn/module.h>
#include <ember/nn/nn.h>
#include <ember/nn/sequential.h>

// Optimizers and learning-rate schedules.
#include <ember/optim/adadelta.h>
#include <ember/optim/adam.h>
#include <ember/optim/lr_scheduler.h>
#include <ember/optim/optim.h>
#include <ember/optim/optimizer.h>
#include <ember/optim/sgd.h>

// Datasets, data loading, samplers, file formats.
#include <ember/data/data.h>
#include <ember/data/dataloader.h>
#include <ember/data/dataset.h>
#include <ember/data/distributed_sampler.h>
#include <ember/data/idx.h>
#include <ember/data/mnist.h>
#include <ember/data/safetensors.h>

// Distributed training: stores, process groups, DDP.
#include <ember/dist/data_parallel.h>
#include <ember/dist/ddp.h>
#include <ember/dist/env.h>
#include <ember/dist/process_group.h>
#include <ember/dist/store.h>
