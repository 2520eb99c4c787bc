// Part 3 of the course project: the 68 iBUG 300-W landmarks with ResNet18. The recipe (data, network, loss, optimizer,
// augmentation) is apps/common/recipes/ibug_landmarks.cpp; `ibug_landmarks --help` lists the commands.
#include "apps/common/recipes/recipes.h"

int main(int argc, char** argv) { return keynet::apps::run_ibug_app(argc, argv, keynet::apps::ibug_landmarks_recipe()); }
