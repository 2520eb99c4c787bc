#include "optim/optimizer.h"

namespace keynet {

Optimizer::Optimizer(Module& module) : params_(named_parameters(module)) {
  KEYNET_CHECK(!params_.empty(), "optimizer: the module has no parameters");
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p->grad.zero_();
}

void Optimizer::ensure_state(std::vector<Tensor>& state) {
  if (state.size() == params_.size()) return;
  state.clear();
  for (auto& [name, p] : params_) state.push_back(Tensor::zeros(p->value.shape(), p->value.device(), p->value.dtype()));
}

Adam::Adam(Module& module, const AdamOptions& options) : Optimizer(module), options_(options) {
  KEYNET_CHECK(options.lr >= 0 && options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1 &&
                   options.eps >= 0 && options.weight_decay >= 0,
               "Adam: invalid options lr=", options.lr, " betas=(", options.beta1, ", ", options.beta2,
               ") eps=", options.eps, " weight_decay=", options.weight_decay);
  lr_ = options.lr;
}

void Adam::step() {
  ensure_state(exp_avg_);
  ensure_state(exp_avg_sq_);
  ++step_;
  ops::AdamDesc d;
  d.lr = lr_, d.beta1 = options_.beta1, d.beta2 = options_.beta2, d.eps = options_.eps;
  d.weight_decay = options_.weight_decay, d.decoupled_weight_decay = options_.decoupled_weight_decay;
  d.step = step_;
  for (std::size_t i = 0; i < params_.size(); ++i)
    ops::adam_update(params_[i].second->value, params_[i].second->grad, exp_avg_[i], exp_avg_sq_[i], d, impl());
}

void Adam::visit_state(ParamVisitor& visitor) {
  ensure_state(exp_avg_);
  ensure_state(exp_avg_sq_);
  visitor.counter("step", step_);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    visitor.buffer(params_[i].first + ".exp_avg", exp_avg_[i]);
    visitor.buffer(params_[i].first + ".exp_avg_sq", exp_avg_sq_[i]);
  }
}

SGD::SGD(Module& module, const SgdOptions& options) : Optimizer(module), options_(options) {
  KEYNET_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0 &&
                   (!options.nesterov || (options.momentum > 0 && options.dampening == 0)),
               "SGD: invalid options lr=", options.lr, " momentum=", options.momentum, " dampening=",
               options.dampening, " weight_decay=", options.weight_decay, " nesterov=", options.nesterov,
               " (nesterov needs momentum > 0 and no dampening)");
  lr_ = options.lr;
}

void SGD::step() {
  ensure_state(momentum_buffer_);
  ops::SgdDesc d;
  d.lr = lr_, d.momentum = options_.momentum, d.dampening = options_.dampening;
  d.weight_decay = options_.weight_decay, d.nesterov = options_.nesterov, d.first_step = step_ == 0;
  ++step_;
  for (std::size_t i = 0; i < params_.size(); ++i)
    ops::sgd_update(params_[i].second->value, params_[i].second->grad, momentum_buffer_[i], d, impl());
}

void SGD::visit_state(ParamVisitor& visitor) {
  ensure_state(momentum_buffer_);
  visitor.counter("step", step_);
  for (std::size_t i = 0; i < params_.size(); ++i)
    visitor.buffer(params_[i].first + ".momentum_buffer", momentum_buffer_[i]);
}

}  // namespace keynet
