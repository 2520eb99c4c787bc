// The recipes of the two IMM apps (parts 1 and 2 of the course project). They live here rather than in
// apps/nose_tip.cpp and apps/face_points.cpp because other apps build the same networks from the
// shipped model files (face_morph takes the 58-point model as a source of keypoints).
#pragma once
#include "apps/common/imm_app.h"

namespace keynet::apps {

ImmRecipe nose_tip_recipe();
ImmRecipe face_points_recipe();

}  // namespace keynet::apps
