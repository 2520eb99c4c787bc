// Part 2 of the course project: all 58 IMM points from a gray 160x120 image of the whole photo. The
// recipe is face_points_recipe() in apps/common/imm_recipes.cpp; `face_points --help` lists the
// commands (train, eval, predict).
#include "apps/common/imm_recipes.h"

int main(int argc, char** argv) { return keynet::apps::run_imm_app(argc, argv, keynet::apps::face_points_recipe()); }
