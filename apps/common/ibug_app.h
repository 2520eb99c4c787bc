// The iBUG 300-W landmark app (part 3 of the course project): 68 points with a ResNet18 on face crops.
// The app states its recipe (input size, crop, augmentation, loss, schedule) and calls run_ibug_app,
// which owns the subcommands:
//   train    on labels_ibug_300W_train.xml, a seeded ~10% of its source photos held out for validation
//   eval     a model on any label XML: NME, failure rate, AUC and the CED curve, the Kaggle MAE in the
//            stored and the original photos' pixels, with the XML's boxes and with boxes found by the app
//   kaggle   the Kaggle submission CSV (Id,Predicted) for a label XML
//   predict  points on photos, the face found without a box (train/face_finder.h) unless one is given
#pragma once
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "apps/common/train_command.h"
#include "data/augment.h"
#include "data/image.h"

namespace keynet::apps {

struct IbugRecipe {
  std::string app;
  std::string summary;
  int input_size = 224;             // square network input, gray
  double crop_enlarge = 1.3;        // square crop side = max(box w, h) * crop_enlarge
  TrainingSettings training;        // loss, weight decay, warm-up, last batch, test-time mirror
  double validation_fraction = 0.1; // of the training XML's faces, by whole source photos
  data::AugmentOptions augment_options;
  TrainFlags defaults;
};

int run_ibug_app(int argc, char** argv, const IbugRecipe& recipe);

// The 68 points of the face the finder settles on in `image` (any size, gray or colour: the first clearly
// self-consistent face from the largest scale down, else the most self-consistent), found by the
// model at model_path (default: the recipe's shipped model in models/) on the default device. Throws
// keynet::Error naming `image_name` when no face is found. The model is loaded once per path.
std::vector<data::Point> detect_landmarks(const IbugRecipe& recipe, const data::Image& image,
                                          const std::string& image_name, const std::string& model_path = "");

}  // namespace keynet::apps
