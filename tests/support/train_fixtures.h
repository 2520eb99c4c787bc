// What the Trainer suites (test_train, tests/mpi/test_distributed) train on: the model card of a small
// 40x30 net with IMM's 58 points, and IMM fixture faces at 40x30, mirrored with IMM's relabelling when
// augmented, decoded once.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/imm.h"
#include "test_data_support.h"
#include "train/model_file.h"

namespace keynet::testing {

inline train::ModelCard tiny_card() {
  train::ModelCard card;
  card.app = "test_app";
  card.architecture = "tiny";
  card.input_width = 40;
  card.input_height = 30;
  card.num_points = 58;
  card.framing = "whole image";
  card.commit = "test";
  return card;
}

// The named tests/fixtures/imm/*.asf faces (IMM's photos scaled to 160x120, so their relative coordinates
// are read at that size).
inline data::KeypointDataset imm_fixture_faces(const std::vector<std::string>& asf_names) {
  data::SampleOptions options;
  options.width = 40, options.height = 30;
  options.framing = data::Framing::WholeImage;
  options.mirror_permutation = data::imm_mirror_permutation();
  std::vector<data::LandmarkRecord> records;
  for (const std::string& name : asf_names)
    records.push_back(data::to_record(data::read_imm_asf(data::testing::fixture("imm/" + name), 160, 120)));
  data::KeypointDataset dataset(records, options);
  dataset.cache_images(1);
  return dataset;
}

}  // namespace keynet::testing
