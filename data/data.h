// Everything of ember::data in one include.
#pragma once
#include <ember/data/dataloader.h>
#include <ember/data/dataset.h>
#include <ember/data/distributed_sampler.h>
#include <ember/data/idx.h>
#include <ember/data/mnist.h>
#include <ember/data/safetensors.h>
