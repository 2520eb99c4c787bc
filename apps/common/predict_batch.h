// The apps' `predict` over a batch of images: points for each image printed as CSV (RFC 4180 quoting)
// or JSON on stdout and drawn on a copy of the image in the run folder's predictions/. Every check that
// can refuse the whole batch runs before the first write (another app's run folder, two inputs drawn to
// one file name, a drawing that would replace an input, an existing drawing without --force); after that, an image that fails (unreadable,
// no face, a framing the model cannot read) is named on stderr and the batch goes on, every good result
// is printed, and the command then fails naming every image that did not.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "data/affine.h"
#include "data/image.h"

namespace keynet::apps {

struct PredictBatch {
  std::string app;                        // names the drawings: <stem>_<app>.png
  PredictFlags flags;                     // the images in order, the format, the run folder, --force
  std::vector<std::string> other_inputs;  // files the command reads besides the images (the model)
};

// Points of one image in its pixels; throws keynet::Error to fail that image alone.
using PredictImage = std::function<std::vector<data::Point>(const data::Image& image, const std::string& path)>;

void predict_images(const PredictBatch& batch, const PredictImage& predict);

}  // namespace keynet::apps
