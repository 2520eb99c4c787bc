// Part 2 of the course project: all 58 IMM points. The recipe (data, network, loss, optimizer,
// augmentation) is apps/common/recipes/face_points.cpp; `face_points --help` lists the commands.
#include "apps/common/recipes/recipes.h"

int main(int argc, char** argv) { return keynet::apps::run_imm_app(argc, argv, keynet::apps::face_points_recipe()); }
