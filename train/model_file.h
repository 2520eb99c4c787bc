// Model files that describe themselves: a trained network's safetensors metadata carries what a user
// of the file needs to run it (app, architecture, input size and framing, pixel and target
// normalisation, number of points, the commit that trained it), and loading checks it before any
// weight is read, so a model of another app or input size is refused with a sentence, not garbage.
#pragma once
#include <map>
#include <string>

#include "layers/module.h"

namespace keynet::train {

struct ModelCard {
  std::string app;           // "nose_tip", "face_points", ...
  std::string architecture;  // the app's name for the network variant it builds
  int input_width = 0, input_height = 0, input_channels = 1;
  int num_points = 0;
  std::string framing;                                 // how an image becomes the network's input
  std::string pixel_normalization = "v/255 - 0.5";     // data::to_tensor, see data/README.md
  std::string target_normalization = "(2x+1)/W - 1";   // data::normalize_points
  std::string commit;                                  // build_commit() of the training build (tensor/version.h)
  std::map<std::string, std::string> recipe;           // hyperparameters, for the record

  std::map<std::string, std::string> to_metadata() const;
  // Reads a card from a file's metadata; names the file and the missing or malformed key.
  static ModelCard from_metadata(const std::map<std::string, std::string>& metadata, const std::string& path);
};

// The face-box enlargement of a model trained on face crops, read from its card's framing sentence
// ("square crop of side max(box w, h) * 1.25 about the face box's centre, resized"); refused, naming
// `path`, when the sentence does not say.
double framing_enlarge(const ModelCard& card, const std::string& path);

// Refuses (keynet::Error naming the file) a card whose app, input size, channels or point count differ
// from `expected`.
void check_card(const ModelCard& found, const ModelCard& expected, const std::string& path);

// The face-box enlargement of a model trained on face crops, read from its card's framing sentence
// ("square crop of side max(box w, h) * 1.25 about the face box's centre, resized"); refused, naming
// `path`, when the sentence does not say.
double framing_enlarge(const ModelCard& card, const std::string& path);

// Refuses (naming the file and every difference) a run resumed with another recipe: any key of
// `expected.recipe` whose value in `found.recipe` differs (numbers compared by value, so "0.001000"
// equals "0.001"), or is missing. A resumed run must be the run that was started, or its split, schedule
// or validation set would change under it.
void check_same_recipe(const ModelCard& found, const ModelCard& expected, const std::string& path);

// Reads only the card of a model file (to build the right architecture before loading weights).
ModelCard read_card(const std::string& path);

// Saves `module` with `card` (plus `extra` metadata, e.g. the training state) to path, atomically.
void save_model(Module& module, const std::string& path, const ModelCard& card,
                const std::map<std::string, std::string>& extra = {});
// Checks the file's card against `expected` and loads the weights; returns the file's metadata.
std::map<std::string, std::string> load_model(Module& module, const std::string& path, const ModelCard& expected);

}  // namespace keynet::train
