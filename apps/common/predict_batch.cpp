#include "apps/common/predict_batch.h"

#include <cstdio>
#include <filesystem>

#include "apps/common/keypoint_files.h"
#include "apps/common/outputs.h"
#include "data/draw.h"
#include "io/csv.h"
#include "tensor/error.h"
#include "train/run_folder.h"

namespace keynet::apps {

namespace fs = std::filesystem;

void predict_images(const PredictBatch& batch, const PredictImage& predict) {
  std::vector<std::string> names, inputs = batch.other_inputs;
  for (const std::string& path : batch.flags.images) names.push_back(fs::path(path).stem().string() + "_" + batch.app + ".png");
  inputs.insert(inputs.end(), batch.flags.images.begin(), batch.flags.images.end());
  train::check_results_folder(batch.flags.out, batch.app);
  const std::string drawn_folder = (fs::path(batch.flags.out) / "predictions").string();
  check_output_names("--out", drawn_folder, names, batch.flags.images, inputs, batch.flags.force);
  std::unique_ptr<train::RunLock> lock;  // taken with the first result, so a batch that fails writes nothing

  std::vector<PointsEntry> entries;
  std::vector<std::string> failures;
  if (batch.flags.format == "csv") std::printf("image,point,x,y\n");
  auto failed = [&](const std::string& path, const Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    failures.push_back(path);
  };
  for (size_t k = 0; k < batch.flags.images.size(); ++k) {
    const std::string& path = batch.flags.images[k];
    data::Image image;
    std::vector<data::Point> points;
    try {
      image = data::load_image(path);
      points = predict(image, path);
    } catch (const Error& error) {
      failed(path, error);
      continue;
    }
    if (!lock) lock = train::claim_results_folder(batch.flags.out, batch.app);
    try {
      const int width = image.width, height = image.height;
      // An RGB photo is drawn on in place: a copy would double the memory of a large one.
      data::Image drawn = image.channels == 3 ? std::move(image) : data::to_rgb(image);
      data::draw_points(drawn, points, data::kPredictionColor, std::max(2, width / 160));
      const std::string png = (fs::path(drawn_folder) / names[k]).string();
      replace_file(png, [&](const std::string& temporary) { data::save_png(temporary, drawn); });
      if (batch.flags.format == "csv") {
        CsvWriter csv(3, true);
        for (size_t i = 0; i < points.size(); ++i) (csv << path << i << points[i].x << points[i].y).end_row();
        std::printf("%s", csv.str().c_str());
        std::fflush(stdout);
      }
      entries.push_back({path, width, height, batch.app, points});
      std::fprintf(stderr, "%s: %zu points drawn on %s\n", path.c_str(), points.size(), png.c_str());
    } catch (const Error& error) {
      failed(path, error);
    }
  }
  if (batch.flags.format == "json") std::printf("%s", points_json(entries).c_str());
  if (failures.empty()) return;
  std::string listed;
  for (const std::string& path : failures) listed += "\n  " + path;
  KEYNET_FAIL(failures.size(), " of ", batch.flags.images.size(), " images failed (each said why above); the other ",
              entries.size(), " were predicted:", listed);
}

}  // namespace keynet::apps
