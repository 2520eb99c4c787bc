// What the iBUG app's commands share below the command line: the training XML split by source photo,
// how a face becomes a network input (a square crop about its box), the model card, a model file
// loaded back with the checks that it is this app's, the face finder's settings, and the field's
// metrics on a set of predictions.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/common/ibug_app.h"
#include "data/affine.h"
#include "data/dataset.h"
#include "layers/resnet.h"
#include "train/evaluate.h"
#include "train/face_finder.h"
#include "train/model_file.h"

namespace keynet::apps {

inline constexpr const char* kIbugTrainLabels = "labels_ibug_300W_train.xml";

// A square crop of side max(box w, h) * enlarge about the face box, resized to size x size; the
// recipe's augmentation applies to augmented samples only.
data::SampleOptions sample_options(const IbugRecipe& recipe, int size, double enlarge, const std::vector<int>& mirror);

// The network a model card's architecture names (--arch, one of kResNet18Architectures): ResNet18 with
// torchvision's pooled fc head, or with the integral-regression head; `source` names where the name came from.
std::unique_ptr<ResNet18> build_ibug_network(const std::string& architecture, Rng& rng, const std::string& source);

train::ModelCard model_card(const IbugRecipe& recipe, const std::string& architecture, int size, double enlarge);

struct IbugData {
  data::KeypointDataset train, validation;
  std::string labels;  // the training XML they came from
};
// The training XML's faces split by whole source photos (recipe.validation_fraction of them validate,
// chosen by split_seed), images decoded now so that a bad one is named before training starts.
IbugData load_ibug_training(const IbugRecipe& recipe, const std::string& data_flag, uint64_t split_seed,
                            const data::SampleOptions& options);

// The mean of the faces' NME (% of the outer-eye-corner distance).
double mean_nme_percent(const train::Predictions& p);
// NME, failure rate at NME > 8%, AUC of the CED up to 8%, the Kaggle MAE in the stored images' pixels,
// and in the original photos' when `to_original` maps every face there.
nlohmann::json landmark_metrics(const train::Predictions& p, const std::vector<data::Affine>& to_original);

// Each face's points mapped to its original photo through crop_manifest.csv beside the label XML
// (empty when there is none or it lacks a face's image).
std::vector<data::Affine> to_original_photos(const std::string& labels, const train::Predictions& p);
// How predictions/*.csv name a face's image: as the label XML `labels` does.
std::function<std::string(const std::string&)> xml_image_names(const std::string& labels);

struct IbugModel {
  std::unique_ptr<ResNet18> model;
  train::ModelCard card;
  data::SampleOptions framing;
  std::vector<int> mirror;  // test-time mirroring, as the model was validated (or as --test-time-mirror says)
};

// Refused when the file is another app's or its card does not say how the face box is enlarged.
IbugModel load_ibug_model(const IbugRecipe& recipe, const std::string& path, Device device,
                          const std::string& test_time_mirror);

// The model's points for every face of a label XML, cropped by the XML's boxes, in the stored images' pixels.
train::Predictions predict_labels(IbugModel& loaded, const std::string& labels, Device device);

train::FaceFinderOptions finder_options(const IbugModel& loaded);
// "<image>: no face found (...)": how far the best candidate was from a face.
std::string no_face_found(const std::string& image_name, const train::FoundFace& face,
                          const train::FaceFinderOptions& options);

}  // namespace keynet::apps
