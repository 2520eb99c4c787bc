// Running a trained model over a dataset or over single images, with predictions mapped back to the
// pixels of each original file (through Sample::to_original), ready for the metrics.
//
// With a mirror permutation (test-time mirroring) each image is also run mirrored, and the mirrored
// prediction, flipped back and relabelled, is averaged with the direct one.
//
// A prediction that is not finite is an error, not output: NaN points would flow on into the metrics,
// drawings and keypoint files as if they were an answer.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "layers/module.h"
#include "layers/losses.h"
#include "train/metrics.h"

namespace keynet::train {

struct Predictions {
  std::vector<Points> predicted;    // original-file pixels, in dataset order
  std::vector<Points> truth;        // the records' points
  std::vector<std::string> images;  // each face's image file
  double loss = 0;                  // mean over faces of `loss` on normalised targets
};

// Writes one CSV row per face, "image,x0,y0,x1,y1,...": the image as `image_name` gives it, then the
// predicted points (through a temporary file and a rename).
void write_predictions_csv(const std::string& path, const Predictions& p,
                           const std::function<std::string(const std::string& image)>& image_name);

// Eval mode, no augmentation, dataset order.
Predictions predict_dataset(Module& model, Loss& loss, const data::KeypointDataset& dataset, int batch_size,
                            Device device, const std::vector<int>& mirror_permutation = {});

// One image framed by `options` (no augmentation): points in the image's pixels.
Points predict_image(Module& model, const data::Image& image, const data::SampleOptions& options, int num_points,
                     Device device, const std::vector<int>& mirror_permutation = {});

// Throws, naming `which` (the image or face) and the first non-finite coordinate, unless all `count`
// outputs (x, y pairs, normalised) are finite.
void check_finite_points(const float* outputs, int64_t count, const std::string& which);

// The model's eval-mode outputs (B, 2K) on the host for host images (B, 1, H, W), targets normalised
// as data::normalize_points does; averaged with the mirrored images' outputs when a permutation is given.
Tensor predict_normalized(Module& model, const Tensor& images, Device device,
                          const std::vector<int>& mirror_permutation = {});

}  // namespace keynet::train
