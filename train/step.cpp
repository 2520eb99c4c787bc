#include "train/step.h"

#include <cmath>

namespace keynet::train {

StepResult step(Module& model, Loss& loss, Optimizer& optimizer, const Tensor& images, const Tensor& targets,
                ReadLoss read, DataParallel* parallel) {
  optimizer.zero_grad();  // parameter gradients accumulate (+=) in backward
  StepResult result;
  result.prediction = model.forward(images, Mode::Train);
  result.loss_tensor = loss.forward(result.prediction, targets);
  if (parallel) {
    KEYNET_CHECK(read == ReadLoss::Yes, "data-parallel steps read the loss at every step");
    const double local = loss_value(result.loss_tensor);
    // A rank whose loss is not finite adds zero gradients; the mean loss tells every rank to skip the update.
    if (std::isfinite(local)) model.backward(loss.backward(1.0 / parallel->size()));
    parallel->sum_gradients();
    result.loss = parallel->mean(local);
    if (std::isfinite(result.loss)) optimizer.step();
    return result;
  }
  result.loss = read == ReadLoss::Yes ? loss_value(result.loss_tensor) : std::nan("");
  if (read == ReadLoss::Yes && !std::isfinite(result.loss)) return result;
  model.backward(loss.backward());
  optimizer.step();
  return result;
}

}  // namespace keynet::train
