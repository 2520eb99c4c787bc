// Part 1 of the course project: the nose tip (IMM point 52) from a gray 80x60 image of the whole
// photo. Four conv stages within the course's limits for part 1 (12-32 channels, kernels 7/5/3, each
// with BatchNorm, ReLU and 2x2 max pooling), two linear layers, MSE and Adam with a cosine schedule
// over 160 epochs, the training faces augmented; predictions average each photo and its mirror image.
// RESULTS.md has the numbers and the choices behind them.
#include "apps/common/recipes/recipes.h"
#include "data/imm.h"

namespace keynet::apps {

ImmRecipe nose_tip_recipe() {
  ImmRecipe recipe;
  recipe.app = "nose_tip";
  recipe.summary = "Nose-tip detection on IMM faces (CS194-26 project 5, part 1)";
  recipe.points = {data::kImmNoseTip};                                                          // data
  recipe.sizes = {"80x60"};
  recipe.augment_options = {.max_rotation_deg = 12, .max_shift_px = 6, .min_scale = 0.92, .max_scale = 1.08,
                            .box_jitter = 0, .max_brightness = 20, .min_contrast = 0.8, .max_contrast = 1.2};
  recipe.architectures = {                                                                      // model
      {"course", {.stages = {{12, 5, 2}, {24, 5, 0}, {32, 3, 0}}, .hidden = {128}}},
      {"bn4", {.stages = {{16, 7}, {24, 5}, {32, 3}, {32, 3}}, .hidden = {128}, .batch_norm = true}},
      {"bn4wide", {.stages = {{32, 7}, {32, 5}, {32, 3}, {32, 3}}, .hidden = {256}, .batch_norm = true}},
  };
  recipe.architecture = "bn4";
  recipe.training = {.loss = "mse", .test_time_mirror = true};                                  // loss, inference
  recipe.defaults = {.out = "runs/nose_tip", .epochs = 160, .lr = 1e-3, .batch = 16};           // optimizer, loop
  recipe.sweep_lrs = {3e-3, 1e-3, 5e-4};                                                        // sweep
  recipe.sweep_batches = {2, 4, 16};
  recipe.sweep_epochs = 25;
  return recipe;
}

}  // namespace keynet::apps
