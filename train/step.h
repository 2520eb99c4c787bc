// One training step (zero the gradients, forward in train mode, loss, backward, optimizer step at the
// optimizer's current learning rate): the one written-out step that Trainer::fit, the benchmarks and
// the tests share, so that they all time and test the step the apps train with.
#pragma once
#include "layers/losses.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace keynet::train {

struct StepResult {
  double loss = 0;    // the batch's loss; when not finite, nothing after the forward pass ran
  Tensor prediction;  // the model's output for the batch
};

// A non-finite loss skips backward and the update, so the parameters stay as they were and the caller
// can find where the loss came from (Trainer::fit does) or stop.
StepResult step(Module& model, Loss& loss, Optimizer& optimizer, const Tensor& images, const Tensor& targets);

}  // namespace keynet::train
