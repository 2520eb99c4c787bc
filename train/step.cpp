#include "train/step.h"

#include <cmath>

namespace keynet::train {

StepResult step(Module& model, Loss& loss, Optimizer& optimizer, const Tensor& images, const Tensor& targets,
                ReadLoss read) {
  optimizer.zero_grad();  // parameter gradients accumulate (+=) in backward
  StepResult result;
  result.prediction = model.forward(images, Mode::Train);
  result.loss_tensor = loss.forward(result.prediction, targets);
  result.loss = read == ReadLoss::Yes ? loss_value(result.loss_tensor) : std::nan("");
  if (read == ReadLoss::Yes && !std::isfinite(result.loss)) return result;
  model.backward(loss.backward());
  optimizer.step();
  return result;
}

}  // namespace keynet::train
