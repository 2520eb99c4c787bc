// Part 1 of the course project: the nose tip from a gray 80x60 image of the whole IMM photo. The
// recipe is nose_tip_recipe() in apps/common/imm_recipes.cpp; `nose_tip --help` lists the commands
// (train, eval, predict, sweep).
#include "apps/common/imm_recipes.h"

int main(int argc, char** argv) { return keynet::apps::run_imm_app(argc, argv, keynet::apps::nose_tip_recipe()); }
