// Part 2 of the course project: all 58 IMM points from a gray 160x120 image of the whole photo (240x180
// as an option). Six conv stages with BatchNorm (the last without pooling), two linear layers, L1 loss
// and Adam with a cosine schedule over 150 epochs, the training faces augmented (rotation, shift,
// scale, brightness, contrast, mirror with relabelling); predictions average each photo and its mirror
// image. RESULTS.md has the numbers and the choices behind them.
#include "apps/common/recipes/recipes.h"

namespace keynet::apps {

ImmRecipe face_points_recipe() {
  ImmRecipe recipe;
  recipe.app = "face_points";
  recipe.summary = "58 facial keypoints on IMM faces (CS194-26 project 5, part 2)";
  recipe.sizes = {"160x120", "240x180"};                                                        // data
  recipe.augment_options = {.max_rotation_deg = 12, .max_shift_px = 10, .min_scale = 0.92, .max_scale = 1.08,
                            .box_jitter = 0, .max_brightness = 20, .min_contrast = 0.8, .max_contrast = 1.2};
  recipe.architectures = {                                                                      // model
      {"course", {.stages = {{16, 7}, {32, 5}, {64, 3}, {128, 3}, {256, 3}}, .hidden = {512}}},
      {"bn6", {.stages = {{32, 7}, {64, 5}, {96, 3}, {128, 3}, {192, 3}, {256, 3, -1, false}},
               .hidden = {512},
               .batch_norm = true}},
  };
  recipe.architecture = "bn6";
  recipe.training = {.loss = "l1", .test_time_mirror = true};                                   // loss, inference
  recipe.defaults = {.out = "runs/face_points", .epochs = 150, .lr = 1e-3, .batch = 16};        // optimizer, loop
  recipe.filter_figure = true;                                                                  // figures
  return recipe;
}

}  // namespace keynet::apps
