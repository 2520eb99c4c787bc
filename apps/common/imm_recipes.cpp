// The IMM apps' recipes: which points, input size, network, loss, optimizer settings and augmentation.
// RESULTS.md has the numbers and the choices behind them.
#include "apps/common/imm_recipes.h"

#include "data/imm.h"

namespace keynet::apps {

// Part 1: the nose tip (IMM point 52) from a gray 80x60 image of the whole photo. 4 conv stages within
// the course's limits for part 1 (12-32 channels, kernels 7/5/3, each with BatchNorm, ReLU and 2x2 max
// pool), two linear layers, MSE and Adam with a cosine schedule over 160 epochs, the training faces
// augmented; predictions average each photo and its mirror image.
ImmRecipe nose_tip_recipe() {
  ImmRecipe recipe;
  recipe.app = "nose_tip";
  recipe.summary = "Nose-tip detection on IMM faces (CS194-26 project 5, part 1)";
  recipe.points = {data::kImmNoseTip};                                                          // data
  recipe.sizes = {"80x60"};
  recipe.augment_options = {.max_rotation_deg = 12, .max_shift_px = 6, .min_scale = 0.92, .max_scale = 1.08,
                            .box_jitter = 0, .max_brightness = 20, .min_contrast = 0.8, .max_contrast = 1.2};
  recipe.architectures = {                                                                       // model
      {"course", {.stages = {{12, 5, 2}, {24, 5, 0}, {32, 3, 0}}, .hidden = {128}}},
      {"bn4", {.stages = {{16, 7}, {24, 5}, {32, 3}, {32, 3}}, .hidden = {128}, .batch_norm = true}},
      {"bn4wide", {.stages = {{32, 7}, {32, 5}, {32, 3}, {32, 3}}, .hidden = {256}, .batch_norm = true}},
  };
  recipe.architecture = "bn4";
  recipe.test_time_mirror = true;                                                             // inference
  recipe.loss = "mse";                                                                           // loss
  recipe.defaults = {.out = "runs/nose_tip", .epochs = 160, .lr = 1e-3, .batch = 16};             // optimizer, loop
  recipe.sweep_lrs = {3e-3, 1e-3, 5e-4};
  recipe.sweep_batches = {2, 4, 16};
  recipe.sweep_epochs = 25;
  return recipe;
}

// Part 2: all 58 IMM points from a gray 160x120 image of the whole photo (240x180 as an option). 6 conv
// stages with BatchNorm (the last without pooling), two linear layers, L1 loss and Adam with a cosine
// schedule over 150 epochs, the training faces augmented (rotation, shift, scale, brightness, contrast,
// mirror with relabelling); predictions average each photo and its mirror image.
ImmRecipe face_points_recipe() {
  ImmRecipe recipe;
  recipe.app = "face_points";
  recipe.summary = "58 facial keypoints on IMM faces (CS194-26 project 5, part 2)";
  recipe.sizes = {"160x120", "240x180"};                                                       // data
  recipe.augment_options = {.max_rotation_deg = 12, .max_shift_px = 10, .min_scale = 0.92, .max_scale = 1.08,
                            .box_jitter = 0, .max_brightness = 20, .min_contrast = 0.8, .max_contrast = 1.2};
  recipe.architectures = {                                                                     // model
      {"course", {.stages = {{16, 7}, {32, 5}, {64, 3}, {128, 3}, {256, 3}}, .hidden = {512}}},
      {"bn6", {.stages = {{32, 7}, {64, 5}, {96, 3}, {128, 3}, {192, 3}, {256, 3, -1, false}},
               .hidden = {512},
               .batch_norm = true}},
  };
  recipe.architecture = "bn6";
  recipe.test_time_mirror = true;                                                              // inference
  recipe.loss = "l1";                                                                          // loss
  recipe.defaults = {.out = "runs/face_points", .epochs = 150, .lr = 1e-3, .batch = 16};        // optimizer, loop
  recipe.filter_figure = true;                                                                 // figures
  return recipe;
}

}  // namespace keynet::apps
