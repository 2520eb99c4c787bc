// Milliseconds per colour morph frame on the CPU (both warps, on two threads, and the dissolve) on a
// 640x480 canvas, median of several runs; the GIF's palette and encoding are timed apart. Faces: two
// IMM fixtures unless given.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "apps/common/cli.h"
#include "apps/common/gif.h"
#include "apps/common/morph_faces.h"

using namespace keynet;

namespace {

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

template <class F>
double median_ms(int runs, F&& body) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    body(r);
    times.push_back(milliseconds_since(start));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Milliseconds per 640x480 colour morph frame (warp + dissolve) and per GIF", "bench_morph"};
  const std::string fixtures = std::string(KEYNET_SOURCE_DIR) + "/tests/fixtures/imm/";
  std::string face_a = fixtures + "01-1m.asf", face_b = fixtures + "36-1m.asf";
  int runs = 15, width = 640, height = 480;
  app.add_option("--a", face_a, "first face (image or keypoints file)")->capture_default_str();
  app.add_option("--b", face_b, "second face")->capture_default_str();
  app.add_option("--runs", runs, "timed runs; the median is printed")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--width", width, "canvas width")->capture_default_str();
  app.add_option("--height", height, "canvas height")->capture_default_str();
  app.callback([&] {
    const data::Canvas canvas = data::make_canvas(width, height);
    const apps::MorphPair pair = apps::make_morph_pair(apps::align_face(apps::load_face(face_a), canvas),
                                                       apps::align_face(apps::load_face(face_b), canvas), canvas);
    auto fraction = [](int run) { return 0.1 + 0.8 * (run % 9) / 8.0; };
    const double frame_ms = median_ms(runs, [&](int r) { apps::morph_frame(pair, fraction(r), fraction(r)); });
    std::printf("canvas %dx%d RGB, %zu triangles, %u hardware threads\n", width, height, pair.triangles.size(),
                std::thread::hardware_concurrency());
    std::printf("morph frame (2 warps + dissolve): %.2f ms, median of %d runs\n", frame_ms, runs);

    std::vector<data::Image> frames;
    for (int k = 0; k < 46; ++k) frames.push_back(apps::sequence_frame(pair, k, 46));
    auto start = std::chrono::steady_clock::now();
    const std::vector<apps::Rgb> palette = apps::choose_palette(frames);
    const double palette_ms = milliseconds_since(start);
    const std::string gif = (std::filesystem::temp_directory_path() / "keynet_bench_morph.gif").string();
    start = std::chrono::steady_clock::now();
    apps::write_gif(gif, frames, palette, 30);
    const double encode_ms = milliseconds_since(start);
    std::printf("GIF of 46 frames: palette %.0f ms, mapping + encoding %.0f ms (%.1f ms/frame), %.2f MB\n", palette_ms,
                encode_ms, encode_ms / 46, std::filesystem::file_size(gif) / 1e6);
    std::filesystem::remove(gif);
  });
  return apps::run_cli(app, argc, argv);
}
