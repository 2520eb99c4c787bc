// One training step (zero the gradients, forward in train mode, loss, backward, optimizer step at the
// optimizer's current learning rate): the one written-out step that Trainer::fit, the benchmarks and
// the tests share, so that they all time and test the step the apps train with.
#pragma once
#include "layers/losses.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "train/distributed.h"

namespace keynet::train {

struct StepResult {
  double loss = 0;    // the batch's loss, when read; when not finite, nothing after the forward pass ran
  Tensor loss_tensor; // the batch's loss where it was computed (a 1-element tensor on the model's device)
  Tensor prediction;  // the model's output for the batch
};

// Whether step() copies the loss to the host: on CUDA that waits for the step to finish.
enum class ReadLoss { Yes, No };

// With ReadLoss::Yes, a non-finite loss skips backward and the update, so the parameters stay as they
// were and the caller can find where the loss came from (Trainer::fit does) or stop. With ReadLoss::No
// the loss stays on the device (`loss` is NaN) and backward and the update always run: the caller
// reads loss_tensor later and must undo the steps after a non-finite one itself (Trainer::fit keeps a
// copy of the state to replay from).
//
// With `parallel` (data-parallel training; `read` must be Yes): backward runs on every rank with the loss
// gradient scaled by 1/ranks, the gradients are summed over the ranks (their mean over the global batch),
// and `loss` is the mean of the ranks' losses; when any rank's loss is not finite, no rank updates.
StepResult step(Module& model, Loss& loss, Optimizer& optimizer, const Tensor& images, const Tensor& targets,
                ReadLoss read = ReadLoss::Yes, DataParallel* parallel = nullptr);

}  // namespace keynet::train
