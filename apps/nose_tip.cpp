// Part 1 of the course project: the nose tip on IMM faces. The recipe (data, network, loss, optimizer,
// augmentation) is apps/common/recipes/nose_tip.cpp; `nose_tip --help` lists the commands.
#include "apps/common/recipes/recipes.h"

int main(int argc, char** argv) { return keynet::apps::run_imm_app(argc, argv, keynet::apps::nose_tip_recipe()); }
