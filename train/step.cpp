#include "train/step.h"

#include <cmath>

namespace keynet::train {

StepResult step(Module& model, Loss& loss, Optimizer& optimizer, const Tensor& images, const Tensor& targets) {
  optimizer.zero_grad();  // parameter gradients accumulate (+=) in backward
  StepResult result;
  result.prediction = model.forward(images, Mode::Train);
  result.loss = loss_value(loss.forward(result.prediction, targets));
  if (!std::isfinite(result.loss)) return result;
  model.backward(loss.backward());
  optimizer.step();
  return result;
}

}  // namespace keynet::train
