// One palette for all frames, nearest-colour mapping, and the cgif encoder, frame by frame.
#include "apps/common/gif.h"

#include <cgif.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "tensor/error.h"

namespace keynet::apps {
namespace {

constexpr int kKMeansRounds = 4;

Rgb pixel_rgb(const data::Image& image, size_t pixel) {
  Rgb out;
  for (int c = 0; c < 3; ++c) {
    const float v = image.pixels[pixel * image.channels + (image.channels == 3 ? c : 0)];
    out[c] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
  }
  return out;
}

// Samples [begin, end) of the median cut: split while the palette has room.
struct Box {
  size_t begin = 0, end = 0;
  int axis = 0;   // the channel with the widest range
  int range = 0;  // that range
};

Box make_box(const std::vector<Rgb>& samples, size_t begin, size_t end) {
  Box box{begin, end};
  for (int c = 0; c < 3; ++c) {
    int low = 255, high = 0;
    for (size_t i = begin; i < end; ++i) low = std::min<int>(low, samples[i][c]), high = std::max<int>(high, samples[i][c]);
    if (high - low > box.range) box.range = high - low, box.axis = c;
  }
  return box;
}

Rgb mean_colour(const std::vector<Rgb>& samples, size_t begin, size_t end) {
  double sum[3] = {0, 0, 0};
  for (size_t i = begin; i < end; ++i)
    for (int c = 0; c < 3; ++c) sum[c] += samples[i][c];
  Rgb out;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(std::lround(sum[c] / double(end - begin)));
  return out;
}

std::vector<Rgb> median_cut(std::vector<Rgb>& samples, int colours) {
  std::vector<Box> boxes = {make_box(samples, 0, samples.size())};
  while (static_cast<int>(boxes.size()) < colours) {
    // Split the box where range times population is largest: wide boxes of many pixels cost most.
    auto worst = std::max_element(boxes.begin(), boxes.end(), [](const Box& p, const Box& q) {
      return double(p.range) * double(p.end - p.begin) < double(q.range) * double(q.end - q.begin);
    });
    if (worst->range == 0) break;  // every box is one colour already
    const Box box = *worst;
    const size_t middle = box.begin + (box.end - box.begin) / 2;
    std::nth_element(samples.begin() + box.begin, samples.begin() + middle, samples.begin() + box.end,
                     [axis = box.axis](const Rgb& p, const Rgb& q) { return p[axis] < q[axis]; });
    *worst = make_box(samples, box.begin, middle);
    boxes.push_back(make_box(samples, middle, box.end));
  }
  std::vector<Rgb> palette;
  for (const Box& box : boxes) palette.push_back(mean_colour(samples, box.begin, box.end));
  return palette;
}

// Lloyd's rounds: each colour moves to the mean of the samples nearest to it (unused colours stay).
void refine_kmeans(const std::vector<Rgb>& samples, std::vector<Rgb>& palette) {
  for (int round = 0; round < kKMeansRounds; ++round) {
    PaletteMapper mapper(palette);
    std::vector<std::array<double, 4>> sums(palette.size(), {0, 0, 0, 0});
    for (const Rgb& s : samples) {
      std::array<double, 4>& sum = sums[mapper.nearest(s)];
      for (int c = 0; c < 3; ++c) sum[c] += s[c];
      sum[3] += 1;
    }
    for (size_t k = 0; k < palette.size(); ++k)
      if (sums[k][3] > 0)
        for (int c = 0; c < 3; ++c) palette[k][c] = static_cast<uint8_t>(std::lround(sums[k][c] / sums[k][3]));
  }
}

// Frame k lasts from round(100 k / fps) to round(100 (k + 1) / fps) hundredths of a second.
uint16_t gif_delay(int k, double fps) {
  return static_cast<uint16_t>(std::lround(100.0 * (k + 1) / fps) - std::lround(100.0 * k / fps));
}

void check_fps(double fps) {
  KEYNET_CHECK(fps > 0 && fps <= 100, "a GIF at ", fps, " frames per second: its delays allow up to 100");
}

const std::vector<Rgb>& checked_palette(const std::string& path, const std::vector<Rgb>& palette) {
  KEYNET_CHECK(!palette.empty() && palette.size() <= 256, path, ": a palette of ", palette.size(), " colours");
  return palette;
}

}  // namespace

PaletteSampler::PaletteSampler(int frames, int width, int height, int max_samples)
    : frames_(frames), width_(width), height_(height) {
  KEYNET_CHECK(frames >= 1 && width >= 1 && height >= 1, "PaletteSampler: ", frames, " frames of ", width, "x",
               height);
  const size_t total = static_cast<size_t>(frames) * width * height;
  stride_ = std::max<size_t>(1, total / std::max(1, max_samples));
  samples_.reserve(total / stride_ + frames);
}

void PaletteSampler::add(const data::Image& frame) {
  KEYNET_CHECK(added_ < frames_, "PaletteSampler: more than the ", frames_, " frames announced");
  KEYNET_CHECK(frame.width == width_ && frame.height == height_, "PaletteSampler: a ", frame.width, "x",
               frame.height, " frame among frames of ", width_, "x", height_);
  const size_t pixels = static_cast<size_t>(width_) * height_;
  for (; position_ < pixels; position_ += stride_) samples_.push_back(pixel_rgb(frame, position_));
  position_ -= pixels;  // the stride runs on into the next frame, so the sample spreads over all evenly
  ++added_;
}

std::vector<Rgb> PaletteSampler::palette(int colours) const {
  KEYNET_CHECK(added_ == frames_, "PaletteSampler: ", added_, " of the ", frames_, " frames announced were added");
  KEYNET_CHECK(colours >= 1 && colours <= 256, "PaletteSampler: a GIF palette holds 1 to 256 colours, not ", colours);
  std::vector<Rgb> samples = samples_;  // median_cut reorders them
  std::vector<Rgb> palette = median_cut(samples, colours);
  refine_kmeans(samples, palette);
  return palette;
}

std::vector<Rgb> choose_palette(const std::vector<data::Image>& frames, int colours, int max_samples) {
  KEYNET_CHECK(!frames.empty(), "choose_palette: no frames");
  PaletteSampler sampler(static_cast<int>(frames.size()), frames.front().width, frames.front().height, max_samples);
  for (const data::Image& frame : frames) sampler.add(frame);
  return sampler.palette(colours);
}

PaletteMapper::PaletteMapper(const std::vector<Rgb>& palette) : palette_(palette), cache_(size_t(1) << 24, -1) {
  KEYNET_CHECK(!palette.empty() && palette.size() <= 256, "PaletteMapper: a palette of ", palette.size(),
               " colours (1 to 256 allowed)");
}

uint8_t PaletteMapper::nearest(const Rgb& colour) {
  int16_t& cached = cache_[size_t(colour[0]) << 16 | size_t(colour[1]) << 8 | colour[2]];
  if (cached < 0) {
    int best = 0, best_distance = 1 << 30;
    for (size_t k = 0; k < palette_.size(); ++k) {
      const int dr = colour[0] - palette_[k][0], dg = colour[1] - palette_[k][1], db = colour[2] - palette_[k][2];
      const int distance = dr * dr + dg * dg + db * db;
      if (distance < best_distance) best_distance = distance, best = static_cast<int>(k);
    }
    cached = static_cast<int16_t>(best);
  }
  return static_cast<uint8_t>(cached);
}

std::vector<uint8_t> PaletteMapper::map(const data::Image& frame) {
  KEYNET_CHECK(frame.channels == 1 || frame.channels == 3, "PaletteMapper: ", frame.channels, "-channel image");
  const size_t pixels = static_cast<size_t>(frame.width) * frame.height;
  std::vector<uint8_t> indices(pixels);
  for (size_t i = 0; i < pixels; ++i) indices[i] = nearest(pixel_rgb(frame, i));
  return indices;
}

std::vector<uint16_t> gif_delays(int frames, double fps) {
  check_fps(fps);
  std::vector<uint16_t> delays;
  for (int k = 0; k < frames; ++k) delays.push_back(gif_delay(k, fps));
  return delays;
}

GifWriter::GifWriter(const std::string& path, int width, int height, const std::vector<Rgb>& palette, double fps)
    : path_(path), temporary_(path + ".tmp"), width_(width), height_(height), fps_(fps),
      mapper_(checked_palette(path, palette)) {
  KEYNET_CHECK(width > 0 && height > 0 && width <= 65535 && height <= 65535, path, ": a GIF cannot be ", width,
               "x", height);
  check_fps(fps);
  for (const Rgb& colour : palette) flat_palette_.insert(flat_palette_.end(), colour.begin(), colour.end());
  CGIF_Config config{};
  config.pGlobalPalette = flat_palette_.data();
  config.path = temporary_.c_str();
  config.attrFlags = CGIF_ATTR_IS_ANIMATED;
  config.width = static_cast<uint16_t>(width);
  config.height = static_cast<uint16_t>(height);
  config.numGlobalPaletteEntries = static_cast<uint16_t>(palette.size());
  config.numLoops = CGIF_INFINITE_LOOP;
  gif_ = cgif_newgif(&config);
  KEYNET_CHECK(gif_ != nullptr, path, ": cannot create the GIF's temporary file ", temporary_,
               " (is the folder there and writable?)");
}

GifWriter::~GifWriter() {
  if (gif_ == nullptr) return;  // finished
  cgif_close(gif_);
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

void GifWriter::add(const data::Image& frame) {
  KEYNET_CHECK(gif_ != nullptr, path_, ": a frame added after the GIF was finished");
  KEYNET_CHECK(frame.width == width_ && frame.height == height_, path_, ": frames differ in size (", width_, "x",
               height_, " and ", frame.width, "x", frame.height, ")");
  std::vector<uint8_t> indices = mapper_.map(frame);
  CGIF_FrameConfig config{};
  config.pImageData = indices.data();
  config.delay = gif_delay(frames_, fps_);
  // Encode only the changed rectangle; unchanged pixels become transparent (cgif does so only when
  // the palette has a free index).
  config.genFlags = CGIF_FRAME_GEN_USE_DIFF_WINDOW | CGIF_FRAME_GEN_USE_TRANSPARENCY;
  const int result = cgif_addframe(gif_, &config);
  KEYNET_CHECK(result == CGIF_OK, path_, ": writing frame ", frames_, " of the GIF to ", temporary_,
               " failed (cgif error ", result, ")");
  ++frames_;
}

void GifWriter::finish() {
  KEYNET_CHECK(gif_ != nullptr, path_, ": the GIF was finished already");
  KEYNET_CHECK(frames_ > 0, path_, ": no frames to write");
  const int closed = cgif_close(gif_);
  gif_ = nullptr;
  std::error_code error;
  if (closed == CGIF_OK) std::filesystem::rename(temporary_, path_, error);
  if (closed != CGIF_OK || error) {
    std::error_code ignored;
    std::filesystem::remove(temporary_, ignored);
    const std::string reason = closed != CGIF_OK ? "cgif error " + std::to_string(closed)
                                                 : "renaming " + temporary_ + ": " + error.message();
    KEYNET_FAIL(path_, ": writing the GIF failed (", reason, "); the partial file was removed");
  }
}

void write_gif(const std::string& path, const std::vector<data::Image>& frames, const std::vector<Rgb>& palette,
               double fps) {
  KEYNET_CHECK(!frames.empty(), path, ": no frames to write");
  GifWriter gif(path, frames.front().width, frames.front().height, palette, fps);
  for (const data::Image& frame : frames) gif.add(frame);
  gif.finish();
}

}  // namespace keynet::apps
