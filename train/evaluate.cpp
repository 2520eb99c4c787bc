#include "train/evaluate.h"

#include <cmath>

#include "data/loader.h"
#include "io/csv.h"
#include "train/run_folder.h"

namespace keynet::train {

void check_finite_points(const float* outputs, int64_t count, const std::string& which) {
  for (int64_t i = 0; i < count; ++i)
    KEYNET_CHECK(std::isfinite(outputs[i]), which, ": the model produced non-finite points (point ", i / 2, " has ",
                 i % 2 == 0 ? "x" : "y", " = ", outputs[i], "); the model file or the input is damaged");
}

Tensor predict_normalized(Module& model, const Tensor& images, Device device,
                          const std::vector<int>& mirror_permutation) {
  const Tensor output = model.forward(images.to(device), Mode::Eval).to(Device::CPU);
  if (mirror_permutation.empty()) return output;
  Tensor direct = output.clone();  // on the CPU the output is the layer's own tensor
  KEYNET_CHECK(direct.dim(1) == 2 * static_cast<int64_t>(mirror_permutation.size()), "test-time mirroring: ",
               mirror_permutation.size(), " labels in the permutation for ", direct.dim(1) / 2, " predicted points");
  // Flip every image row: x -> W - 1 - x.
  Tensor flipped = Tensor::empty(images.shape());
  const int64_t rows = images.numel() / images.dim(-1), width = images.dim(-1);
  const float* in = images.data<float>();
  float* out = flipped.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t x = 0; x < width; ++x) out[r * width + x] = in[r * width + width - 1 - x];
  const Tensor mirrored = model.forward(flipped.to(device), Mode::Eval).to(Device::CPU);
  // The mirrored image's label perm[k] is this image's point k, with its normalised x negated
  // ((2x+1)/W - 1 is odd under x -> W - 1 - x).
  const int64_t batch = direct.dim(0), points = static_cast<int64_t>(mirror_permutation.size());
  float* d = direct.data<float>();
  const float* m = mirrored.data<float>();
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t k = 0; k < points; ++k) {
      const int64_t source = n * 2 * points + 2 * mirror_permutation[k];
      d[n * 2 * points + 2 * k] = 0.5f * (d[n * 2 * points + 2 * k] - m[source]);
      d[n * 2 * points + 2 * k + 1] = 0.5f * (d[n * 2 * points + 2 * k + 1] + m[source + 1]);
    }
  return direct;
}

void write_predictions_csv(const std::string& path, const Predictions& p,
                           const std::function<std::string(const std::string& image)>& image_name) {
  CsvWriter csv;
  csv << "image";
  const size_t points = p.predicted.empty() ? 0 : p.predicted.front().size();
  for (size_t i = 0; i < points; ++i)
    csv << std::string("x").append(std::to_string(i)) << std::string("y").append(std::to_string(i));
  csv.end_row();
  for (size_t face = 0; face < p.predicted.size(); ++face) {
    csv << image_name(p.images[face]);
    for (const data::Point& q : p.predicted[face]) csv << q.x << q.y;
    csv.end_row();
  }
  write_file_atomically(path, csv.str());
}

Predictions predict_dataset(Module& model, Loss& loss, const data::KeypointDataset& dataset, int batch_size,
                            Device device, const std::vector<int>& mirror_permutation) {
  data::LoaderOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  data::DataLoader loader(dataset, options);
  loader.start_epoch(0);
  Predictions result;
  double loss_sum = 0;
  while (auto batch = loader.next()) {
    const Tensor host = predict_normalized(model, batch->images, device, mirror_permutation);
    loss_sum += loss_value(loss.forward(host.to(device), batch->targets.to(device))) * static_cast<double>(batch->size());
    const int64_t row_length = host.dim(1);
    for (size_t row = 0; row < batch->size(); ++row) {
      const data::LandmarkRecord& record = dataset.record(batch->indices[row]);
      check_finite_points(host.data<float>() + row * row_length, row_length,
                          "predict: face " + std::to_string(batch->indices[row]) + " (" + record.image_path + ")");
      result.predicted.push_back(batch->prediction_to_original(row, host.data<float>() + row * row_length));
      result.truth.push_back(record.points);
      result.images.push_back(record.image_path);
    }
  }
  result.loss = loss_sum / static_cast<double>(result.predicted.size());
  return result;
}

Points predict_image(Module& model, const data::Image& image, const data::SampleOptions& options, int num_points,
                     Device device, const std::vector<int>& mirror_permutation) {
  const data::Sample sample = data::make_sample(data::LandmarkRecord{}, image, options);
  const Tensor predicted = predict_normalized(model, data::to_tensor(sample.image), device, mirror_permutation);
  KEYNET_CHECK(predicted.numel() == 2 * num_points, "predict: the model gave ", predicted.numel(),
               " outputs for ", num_points, " points");
  check_finite_points(predicted.data<float>(), predicted.numel(),
                      "predict: the image (" + std::to_string(image.width) + "x" + std::to_string(image.height) + ")");
  return sample.to_original(
      data::denormalize_points(predicted.data<float>(), num_points, sample.image.width, sample.image.height));
}

}  // namespace keynet::train
