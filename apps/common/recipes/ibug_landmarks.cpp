// Part 3 of the course project: the 68 iBUG 300-W landmarks with a ResNet18 trained from scratch.
// Square gray 160x160 crops around the face box, augmented (mirror with relabelling, rotation, scale,
// shift, box jitter, brightness, contrast); L1 loss on coordinates normalised to [-1, 1]; Adam with one
// warm-up epoch and a cosine decay over 100 epochs; predictions average each face and its mirror image.
// RESULTS.md has the numbers and the choices behind them.
#include "apps/common/recipes/recipes.h"

namespace keynet::apps {

IbugRecipe ibug_landmarks_recipe() {
  IbugRecipe recipe;
  recipe.app = "ibug_landmarks";
  recipe.summary = "68 facial landmarks on iBUG 300-W with ResNet18 (CS194-26 project 5, part 3)";
  recipe.input_size = 160;                                                                      // data
  recipe.crop_enlarge = 1.25;
  recipe.augment_options = {.max_rotation_deg = 25, .max_shift_px = 8, .min_scale = 0.9, .max_scale = 1.1,
                            .box_jitter = 0.05, .max_brightness = 25, .min_contrast = 0.7, .max_contrast = 1.3};
  recipe.training = {.loss = "l1", .warmup_epochs = 1, .drop_last = true, .test_time_mirror = true};  // loss, loop
  recipe.defaults = {.out = "runs/ibug_landmarks", .epochs = 100, .lr = 1e-3, .batch = 16};
  return recipe;
}

}  // namespace keynet::apps
