// The apps' `predict` over a batch of images: points for each image printed as CSV (RFC 4180 quoting)
// or JSON on stdout and drawn on a copy of the image in a folder. Every check that can refuse the
// whole batch runs before the first write (two inputs drawn to one file name, a drawing that would
// replace an input, an existing drawing without --force); after that, an image that fails (unreadable,
// no face, a framing the model cannot read) is named on stderr and the batch goes on, every good result
// is printed, and the command then fails naming every image that did not.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "data/affine.h"
#include "data/image.h"

namespace keynet::apps {

struct PredictBatch {
  std::string app;                  // names the drawings: <stem>_<app>.png
  std::vector<std::string> images;  // the inputs, in order
  std::string format = "csv";       // csv | json
  std::string drawn_folder;         // where the drawings go
  std::string drawn_flag;           // the flag that named it, for messages
  std::vector<std::string> other_inputs;  // files the command reads besides the images (the model)
  bool force = false;                     // replace existing drawings
};

// Points of one image in its pixels; throws keynet::Error to fail that image alone.
using PredictImage = std::function<std::vector<data::Point>(const data::Image& image, const std::string& path)>;

void predict_images(const PredictBatch& batch, const PredictImage& predict);

}  // namespace keynet::apps
