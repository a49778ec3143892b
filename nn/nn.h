// Everything of ember::nn in one include.
#pragma once
#include <ember/nn/checkpoint.h>
#include <ember/nn/conv.h>
#include <ember/nn/init.h>
#include <ember/nn/layers.h>
#include <ember/nn/linear.h>
#include <ember/nn/loss.h>
#include <ember/nn/mnist_net.h>
#include <ember/nn/module.h>
#include <ember/nn/sequential.h>
