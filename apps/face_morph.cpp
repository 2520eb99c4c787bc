// Face morphing driven by keypoints (CS194-26 project 3, on colour photos): two faces aligned by their
// eyes onto one canvas, the midway face, an animated morph, IMM's mean faces, and caricatures.
// Keypoints come from files (see apps/common/keypoint_files.h); `face_morph --help` lists the commands.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "apps/common/cli.h"
#include "apps/common/gif.h"
#include "apps/common/keypoint_files.h"
#include "apps/common/morph_faces.h"
#include "apps/common/outputs.h"
#include "data/imm.h"
#include "tensor/error.h"

using namespace keynet;
namespace fs = std::filesystem;

namespace {

struct PairCommand {
  std::string a, b, points_a, points_b, size = "640x480", out;
  std::string frames_dir;
  int frames = 46;
  double fps = 30;
  bool force = false;
  // The files this command reads, which no output may replace.
  std::vector<std::string> inputs() const { return {a, b, points_a, points_b}; }
};

struct MeanCommand {
  std::string data, out, face = "01-1m", size = "640x480";
  bool force = false;
};

struct CaricatureCommand {
  std::string face, points, data, mean_points, group = "auto", out, size = "640x480";
  std::vector<double> alphas = {-0.5, 1.5};
  bool force = false;
};

data::Canvas parse_canvas(const std::string& size) {
  int width = 0, height = 0;
  char tail = 0;
  KEYNET_CHECK(std::sscanf(size.c_str(), "%dx%d%c", &width, &height, &tail) == 2, "--size ", size,
               ": expected WIDTHxHEIGHT, e.g. 640x480");
  KEYNET_CHECK(width >= 16 && height >= 16 && width <= 8192 && height <= 8192, "--size ", size,
               ": each side must lie in 16..8192 pixels");
  KEYNET_CHECK(static_cast<long long>(width) * height <= data::kMaxCanvasPixels, "--size ", size, ": ",
               static_cast<long long>(width) * height, " pixels, more than the ", data::kMaxCanvasPixels,
               " (4096x4096) a canvas may have");
  return data::make_canvas(width, height);
}

void create_parent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
}

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

apps::MorphPair load_pair(const PairCommand& command, const data::Canvas& canvas) {
  return apps::make_morph_pair(apps::align_face(apps::load_face(command.a, command.points_a), canvas),
                               apps::align_face(apps::load_face(command.b, command.points_b), canvas), canvas);
}

std::string frame_name(size_t k) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%03zu.png", k);
  return name;
}

std::vector<std::string> frame_names(int frames) {
  std::vector<std::string> names;
  for (int k = 0; k < frames; ++k) names.push_back(frame_name(static_cast<size_t>(k)));
  return names;
}

void midway_command(const PairCommand& command) {
  apps::check_output_file("--out", command.out, {".png"}, command.inputs(), command.force);
  const data::Canvas canvas = parse_canvas(command.size);
  const apps::MorphPair pair = load_pair(command, canvas);
  const data::Image midway = apps::morph_frame(pair, 0.5, 0.5);
  apps::replace_file(command.out, [&](const std::string& temporary) { data::save_png(temporary, midway); });
  std::printf("midway face of %s and %s: %s\n", pair.a.name.c_str(), pair.b.name.c_str(), command.out.c_str());
}

void sequence_command(const PairCommand& command) {
  apps::check_output_file("--out", command.out, {".gif"}, command.inputs(), command.force);
  if (!command.frames_dir.empty())
    apps::check_output_names("--frames-dir", command.frames_dir, frame_names(command.frames),
                             std::vector<std::string>(command.frames, "the sequence"), command.inputs(), command.force);
  const data::Canvas canvas = parse_canvas(command.size);
  const apps::MorphPair pair = load_pair(command, canvas);
  if (!command.frames_dir.empty()) fs::create_directories(command.frames_dir);
  create_parent(command.out);
  apps::write_morph_gif(pair, command.frames, command.fps, command.out, [&](int k, const data::Image& frame) {
    if (!command.frames_dir.empty())
      data::save_png((fs::path(command.frames_dir) / frame_name(static_cast<size_t>(k))).string(), frame);
  });
  std::printf("%d frames of %s -> %s at %g fps: %s (%.2f MB)%s%s\n", command.frames, pair.a.name.c_str(),
              pair.b.name.c_str(), command.fps, command.out.c_str(), fs::file_size(command.out) / 1e6,
              command.frames_dir.empty() ? "" : ", PNG frames in ", command.frames_dir.c_str());
}

// IMM's frontal neutral photos (view 1).
std::vector<data::ImmShape> imm_frontal(const std::string& data_flag) {
  const std::string dir = (fs::path(apps::find_data_dir(data_flag, "imm_face_db")) / "imm_face_db").string();
  std::vector<data::ImmShape> frontal;
  for (data::ImmShape& shape : data::read_imm_dir(dir))
    if (shape.view == 1) frontal.push_back(std::move(shape));
  KEYNET_CHECK(!frontal.empty(), dir, ": no frontal (view 1) IMM faces");
  return frontal;
}

const char* group_name(char gender) { return gender == 'm' ? "men" : gender == 'f' ? "women" : "all"; }

void mean_command(const MeanCommand& command) {
  apps::check_output_folder("--out", command.out, command.force);
  const data::Canvas canvas = parse_canvas(command.size);
  const std::vector<data::ImmShape> frontal = imm_frontal(command.data);
  fs::create_directories(command.out);
  auto out_file = [&](const std::string& name) { return (fs::path(command.out) / name).string(); };
  bool face_found = false;
  for (const char gender : {'m', 'f'}) {
    std::vector<apps::AlignedFace> faces;
    std::optional<apps::AlignedFace> chosen;
    for (const data::ImmShape& shape : frontal) {
      if (shape.gender != gender) continue;
      faces.push_back(apps::align_face(apps::load_face(shape.asf_path), canvas));
      if (stem_of(shape.asf_path) == command.face) chosen = faces.back();
    }
    if (faces.empty()) continue;
    const std::string group = group_name(gender);
    const apps::MeanFace mean = apps::mean_face(faces, canvas);
    data::save_png(out_file("mean_" + group + ".png"), mean.image);
    apps::write_points_json(out_file("mean_" + group + ".json"),
                            {{"mean_" + group + ".png", canvas.width, canvas.height, "face_morph", mean.shape}});
    std::printf("mean of %zu %s: %s (shape in mean_%s.json)\n", faces.size(), group.c_str(),
                out_file("mean_" + group + ".png").c_str(), group.c_str());
    if (!chosen) continue;
    face_found = true;
    const apps::AlignedFace mean_as_face{"mean_" + group, mean.image, mean.shape};
    const data::Image face_to_mean = apps::warp_to_shape(*chosen, mean.shape, canvas);
    const data::Image mean_to_face = apps::warp_to_shape(mean_as_face, chosen->points, canvas);
    data::save_png(out_file(command.face + "_to_mean_" + group + ".png"), face_to_mean);
    data::save_png(out_file("mean_" + group + "_to_" + command.face + ".png"), mean_to_face);
    data::save_png(out_file(command.face + "_and_mean_" + group + ".png"),
                   apps::side_by_side({chosen->image, face_to_mean, mean.image, mean_to_face}));
    std::printf("%s into the mean shape and back: %s (face | face in mean shape | mean | mean in face's shape)\n",
                command.face.c_str(), out_file(command.face + "_and_mean_" + group + ".png").c_str());
  }
  KEYNET_CHECK(face_found, "--face ", command.face, ": no frontal IMM face of that name (e.g. 01-1m)");
}

// The mean shape a caricature exaggerates from, in canvas pixels.
std::vector<data::Point> caricature_mean(const CaricatureCommand& command, const apps::Face& face,
                                         const data::Canvas& canvas, std::string& described) {
  if (!command.mean_points.empty()) {
    const apps::Face mean = apps::load_face(command.mean_points);
    described = command.mean_points;
    return data::eye_alignment(mean.points, canvas, mean.points_path).apply(mean.points);
  }
  char gender = 0;
  if (command.group == "auto" && fs::path(face.points_path).extension() == ".asf")
    gender = data::read_imm_asf(face.points_path).gender;
  if (command.group == "men") gender = 'm';
  if (command.group == "women") gender = 'f';
  std::vector<std::vector<data::Point>> shapes;
  for (const data::ImmShape& shape : imm_frontal(command.data))
    if (gender == 0 || shape.gender == gender)
      shapes.push_back(data::eye_alignment(shape.points, canvas, shape.asf_path).apply(shape.points));
  described = "IMM frontal " + std::string(group_name(gender)) + " (" + std::to_string(shapes.size()) + " faces)";
  return data::mean_shape(shapes);
}

void caricature_command(const CaricatureCommand& command) {
  const data::Canvas canvas = parse_canvas(command.size);
  const apps::Face face = apps::load_face(command.face, command.points);
  std::vector<double> alphas = command.alphas;
  alphas.push_back(1.0);  // the face itself, for comparison in the strip
  std::sort(alphas.begin(), alphas.end());
  alphas.erase(std::unique(alphas.begin(), alphas.end()), alphas.end());
  const std::string stem = stem_of(face.image_path);
  std::vector<std::string> names;
  for (const double alpha : alphas) {
    char name[64];
    std::snprintf(name, sizeof name, "_alpha_%g.png", alpha);
    names.push_back(stem + name);
  }
  names.push_back(stem + "_caricatures.png");
  apps::check_output_names("--out", command.out, names, std::vector<std::string>(names.size(), face.image_path),
                           {command.face, face.image_path, face.points_path, command.mean_points}, command.force);
  const apps::AlignedFace aligned = apps::align_face(face, canvas);
  std::string mean_source;
  const std::vector<data::Point> mean = caricature_mean(command, face, canvas, mean_source);
  KEYNET_CHECK(mean.size() == aligned.points.size(), aligned.name, " has ", aligned.points.size(),
               " points but the mean shape (", mean_source, ") has ", mean.size(),
               "; pass --mean-points with a mean of the same landmarks");
  std::vector<data::Image> strip;
  for (size_t k = 0; k < alphas.size(); ++k) {
    strip.push_back(apps::warp_to_shape(aligned, apps::caricature_shape(aligned.points, mean, alphas[k]), canvas));
    apps::replace_file((fs::path(command.out) / names[k]).string(),
                       [&](const std::string& temporary) { data::save_png(temporary, strip.back()); });
  }
  const std::string strip_path = (fs::path(command.out) / names.back()).string();
  const data::Image side = apps::side_by_side(strip);
  apps::replace_file(strip_path, [&](const std::string& temporary) { data::save_png(temporary, side); });
  std::printf("caricatures of %s against the mean of %s, alpha", aligned.name.c_str(), mean_source.c_str());
  for (const double alpha : alphas) std::printf(" %g", alpha);
  std::printf(" (left to right): %s\n", strip_path.c_str());
}

void add_pair_options(CLI::App& command, PairCommand& target) {
  command.add_option("a", target.a, "first face: an image, or a keypoints file (.asf, .pts, .json) that names it")
      ->required();
  command.add_option("b", target.b, "second face")->required();
  command.add_option("--points-a", target.points_a,
                     "keypoints of the first image (.asf, .pts, or predict's .json), auto (found by the shipped 68-point "
                     "model with its face finding, any photo) or imm (the shipped 58-point model, for photos framed as "
                     "IMM's: 4:3, one upright face); default: a .asf or .pts beside it");
  command.add_option("--points-b", target.points_b, "keypoints of the second image, auto or imm");
  command.add_option("--size", target.size, "canvas WxH the faces are aligned onto (eyes at fixed places)")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Face morphing driven by keypoints: midway faces, morph animations, mean faces, caricatures",
               "face_morph"};
  app.require_subcommand(1);

  PairCommand midway;
  midway.out = "midway.png";
  CLI::App* midway_cli = app.add_subcommand("midway", "the average shape of two faces, both warped into it, blended");
  add_pair_options(*midway_cli, midway);
  midway_cli->add_option("--out", midway.out, "PNG to write")->capture_default_str();
  midway_cli->add_flag("--force", midway.force, "replace --out if it exists");
  midway_cli->callback([&] { midway_command(midway); });

  PairCommand sequence;
  sequence.out = "morph.gif";
  CLI::App* sequence_cli = app.add_subcommand(
      "sequence", "an animated GIF from the first face to the second: warp and dissolve k/(frames-1), one palette");
  add_pair_options(*sequence_cli, sequence);
  sequence_cli->add_option("--out", sequence.out, "GIF to write")->capture_default_str();
  sequence_cli->add_flag("--force", sequence.force, "replace --out (and --frames-dir's frames) if they exist");
  sequence_cli->add_option("--frames-dir", sequence.frames_dir, "also write every frame as frame_NNN.png here");
  sequence_cli->add_option("--frames", sequence.frames, "frames, both faces included")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  sequence_cli->add_option("--fps", sequence.fps, "frames per second (GIF delays are 1/100 s; kept on average)")
      ->check(apps::finite_number() & CLI::Range(1.0, 100.0))
      ->capture_default_str();
  sequence_cli->callback([&] { sequence_command(sequence); });

  MeanCommand mean;
  mean.out = "mean_faces";
  CLI::App* mean_cli = app.add_subcommand(
      "mean", "mean faces of IMM's frontal neutral photos (view 1), men and women apart, and one face into the mean "
              "shape and back");
  apps::add_data_flag(*mean_cli, mean.data);
  mean_cli->add_option("--out", mean.out, "folder for the PNGs and the mean shapes (points JSON)")->capture_default_str();
  mean_cli->add_flag("--force", mean.force, "write into --out although it already holds files");
  mean_cli->add_option("--face", mean.face, "the IMM face (file stem) warped into its group's mean shape and back")
      ->capture_default_str();
  mean_cli->add_option("--size", mean.size, "canvas WxH")->capture_default_str();
  mean_cli->callback([&] { mean_command(mean); });

  CaricatureCommand caricature;
  caricature.out = "caricatures";
  CLI::App* caricature_cli = app.add_subcommand(
      "caricature", "the face warped to mean + alpha (face - mean): alpha > 1 exaggerates, alpha < 0 reverses");
  caricature_cli->add_option("face", caricature.face, "an image, or a keypoints file that names it")->required();
  caricature_cli->add_option("--points", caricature.points, "keypoints of the image (.asf, .pts, .json), auto or imm");
  caricature_cli->add_option("--alpha", caricature.alphas, "one or more alphas")
      ->check(apps::finite_number() & CLI::Range(-100.0, 100.0))
      ->capture_default_str();
  caricature_cli->add_option("--mean-points", caricature.mean_points,
                             "mean shape to exaggerate from (e.g. mean_men.json from `mean`); default: IMM's frontal "
                             "faces, as --group says");
  caricature_cli->add_option("--group", caricature.group,
                             "IMM faces averaged: auto (the face's gender when it is an IMM .asf, else all), men, "
                             "women or all")
      ->check(CLI::IsMember({"auto", "men", "women", "all"}))
      ->capture_default_str();
  apps::add_data_flag(*caricature_cli, caricature.data);
  caricature_cli->add_option("--out", caricature.out, "folder for the PNGs")->capture_default_str();
  caricature_cli->add_flag("--force", caricature.force, "replace caricatures already in --out");
  caricature_cli->add_option("--size", caricature.size, "canvas WxH")->capture_default_str();
  caricature_cli->callback([&] { caricature_command(caricature); });

  return apps::run_cli(app, argc, argv);
}
