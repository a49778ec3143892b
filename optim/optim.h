// Everything of ember::optim in one include.
#pragma once
#include <ember/optim/adadelta.h>
#include <ember/optim/adam.h>
#include <ember/optim/lr_scheduler.h>
#include <ember/optim/optimizer.h>
#include <ember/optim/sgd.h>
