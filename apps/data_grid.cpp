// data_grid: a PNG of augmented IMM and iBUG training samples with their labels drawn, so anyone can
// see that the points sit where they belong after rotation, shift, scale and mirroring.
//
//   data_grid [--data ../shared/data] [--out data_grid.png] [--seed 1] [--count 8] [--numbers]
//
// Green: every labelled point. Blue: the subject's left eye (IMM points 13-20, iBUG 42-47), which
// must appear on the image's right in every cell, mirrored or not. Yellow, larger: nose tip (IMM 52,
// iBUG 30). A white bar at the top marks a mirrored sample.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "data/draw.h"
#include "data/ibug.h"
#include "data/imm.h"
#include "data/loader.h"
#include "tensor/version.h"

using namespace keynet::data;

namespace {

constexpr int kCell = 224;

// The sample upscaled to `width` pixels wide, with its points drawn.
Image render(const Sample& sample, int width, int eye_first, int eye_last, int nose_tip, bool numbers) {
  const int height = sample.image.height * width / sample.image.width;
  const Affine up = Affine::resize(sample.image.width, sample.image.height, width, height);
  Image cell = to_rgb(resize(sample.image, width, height));
  const std::vector<Point> points = up.apply(sample.points);
  draw_points(cell, points, kGroundTruthColor, 2, numbers);
  draw_points(cell, std::vector<Point>(points.begin() + eye_first, points.begin() + eye_last + 1), Color{40, 120, 255}, 2);
  draw_points(cell, {points[nose_tip]}, Color{255, 220, 0}, 3);
  if (!sample.label_permutation.empty())
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < width; ++x)
        for (int c = 0; c < 3; ++c) cell.at(x, y, c) = 255;
  return cell;
}

std::vector<Image> render_batch(const KeypointDataset& dataset, uint64_t seed, int count, int eye_first, int eye_last,
                                int nose_tip, bool numbers) {
  DataLoader loader(dataset, {.batch_size = count, .seed = seed, .augment = true, .prefetch_batches = 0});
  loader.start_epoch(0);
  const std::optional<Batch> batch = loader.next();
  std::vector<Image> cells;
  for (const Sample& s : batch->samples) cells.push_back(render(s, kCell, eye_first, eye_last, nose_tip, numbers));
  return cells;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes a grid of augmented IMM and iBUG training samples with their keypoints drawn"};
  std::string data_dir = "../shared/data", out = "data_grid.png";
  uint64_t seed = 1;
  int count = 8;
  bool numbers = false;
  app.add_option("--data", data_dir, "folder holding imm_face_db/ and ibug_300w/");
  app.add_option("--out", out, "output PNG");
  app.add_option("--seed", seed, "shuffle and augmentation seed");
  app.add_option("--count", count, "samples per dataset")->check(CLI::Range(1, 64));
  app.add_flag("--numbers", numbers, "write each point's index beside it");
  app.set_version_flag("--version", keynet::version_line("data_grid"));
  CLI11_PARSE(app, argc, argv);

  try {
    const std::filesystem::path root(data_dir);
    SampleOptions imm_options;
    imm_options.framing = Framing::WholeImage;
    imm_options.width = 160, imm_options.height = 120;
    imm_options.mirror_permutation = imm_mirror_permutation();
    const ImmSplit imm = split_imm(read_imm_dir((root / "imm_face_db").string()));
    const KeypointDataset imm_set(to_records(imm.train), imm_options);

    SampleOptions ibug_options;
    ibug_options.mirror_permutation =
        read_mirror_permutation((root / "ibug_300w/mirror_permutation_68.txt").string(), kIbugPoints);
    const KeypointDataset ibug_set(read_dlib_xml((root / "ibug_300w/labels_ibug_300W_train.xml").string(), kIbugPoints),
                                   ibug_options);

    std::vector<Image> cells = render_batch(imm_set, seed, count, 13, 20, kImmNoseTip, numbers);
    const std::vector<Image> ibug_cells = render_batch(ibug_set, seed, count, 42, 47, 30, numbers);
    cells.insert(cells.end(), ibug_cells.begin(), ibug_cells.end());
    save_png(out, make_grid(cells, count));
    std::cout << "wrote " << out << ": " << count << " IMM samples (top row, " << imm_set.size()
              << " training faces) and " << count << " iBUG samples (bottom row, " << ibug_set.size()
              << " training faces), seed " << seed << "\n";
  } catch (const keynet::Error& error) {
    std::cerr << "data_grid: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
