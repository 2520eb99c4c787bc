// The three apps' recipes, one file each beside this header: what a reader of the course project looks
// for (data, network, loss, optimizer, schedule, augmentation). They live with the shared code rather
// than in the apps' mains because face_morph builds the same networks to find keypoints.
#pragma once
#include "apps/common/ibug_app.h"
#include "apps/common/imm_app.h"

namespace keynet::apps {

ImmRecipe nose_tip_recipe();        // recipes/nose_tip.cpp: part 1
ImmRecipe face_points_recipe();     // recipes/face_points.cpp: part 2
IbugRecipe ibug_landmarks_recipe(); // recipes/ibug_landmarks.cpp: part 3

}  // namespace keynet::apps
