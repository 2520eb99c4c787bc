#include "train/evaluate.h"

#include "data/loader.h"

namespace keynet::train {

Predictions predict_dataset(Module& model, Loss& loss, const data::KeypointDataset& dataset, int batch_size,
                            Device device) {
  data::LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  data::DataLoader loader(dataset, options);
  loader.start_epoch(0);
  Predictions result;
  double loss_sum = 0;
  while (auto batch = loader.next()) {
    const Tensor predicted = model.forward(batch->images.to(device), Mode::Eval);
    loss_sum += loss_value(loss.forward(predicted, batch->targets.to(device))) * static_cast<double>(batch->size());
    const Tensor host = predicted.to(Device::CPU);
    const int64_t row_length = host.dim(1);
    for (size_t row = 0; row < batch->size(); ++row) {
      result.predicted.push_back(batch->prediction_to_original(row, host.data<float>() + row * row_length));
      const data::LandmarkRecord& record = dataset.record(batch->indices[row]);
      result.truth.push_back(record.points);
      result.images.push_back(record.image_path);
    }
  }
  result.loss = loss_sum / static_cast<double>(result.predicted.size());
  return result;
}

Points predict_image(Module& model, const data::Image& image, const data::SampleOptions& options, int num_points,
                     Device device) {
  const data::Sample sample = data::make_sample(data::LandmarkRecord{}, image, options);
  const Tensor predicted = model.forward(data::to_tensor(sample.image).to(device), Mode::Eval).to(Device::CPU);
  KEYNET_CHECK(predicted.numel() == 2 * num_points, "predict: the model gave ", predicted.numel(),
               " outputs for ", num_points, " points");
  return sample.to_original(
      data::denormalize_points(predicted.data<float>(), num_points, sample.image.width, sample.image.height));
}

}  // namespace keynet::train
