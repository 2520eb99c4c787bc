// Animated GIFs of colour frames (through cgif). GIF frames are indexed: one palette of at most 256
// colours is chosen for the whole animation from its frames (median cut, then k-means), and every
// frame is mapped to it by nearest colour, so colours do not flicker from frame to frame as they would
// with a palette per frame. Both steps take one frame at a time (PaletteSampler, GifWriter), so a long
// animation need not be held in memory.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

struct st_gif;  // cgif's CGIF, whose header stays out of this one

namespace keynet::apps {

using Rgb = std::array<uint8_t, 3>;

// The default 255 colours leave GifWriter one free index to mark pixels unchanged since the previous
// frame (transparent), which makes a morph's GIF about a third smaller.
constexpr int kGifPaletteColours = 255;

// A palette from frames handed over one at a time: `frames` frames of width x height (gray or RGB) are
// expected, and each keeps its share of an even sample of about `max_samples` pixels over all of them
// (pixels at one stride through the frames laid end to end); palette() is median cut over the sample,
// refined by a few rounds of k-means on it, with up to `colours` (1..256) colours.
class PaletteSampler {
 public:
  PaletteSampler(int frames, int width, int height, int max_samples = 200000);
  void add(const data::Image& frame);
  std::vector<Rgb> palette(int colours = kGifPaletteColours) const;

 private:
  int frames_, width_, height_, added_ = 0;
  size_t stride_;
  size_t position_ = 0;  // the next sample, in the next frame added
  std::vector<Rgb> samples_;
};

// PaletteSampler over frames already in memory (one size).
std::vector<Rgb> choose_palette(const std::vector<data::Image>& frames, int colours = kGifPaletteColours,
                                int max_samples = 200000);

// Maps pixels to the index of the nearest palette colour (squared RGB distance, ties to the lower index),
// remembering each 24-bit colour's answer.
class PaletteMapper {
 public:
  explicit PaletteMapper(const std::vector<Rgb>& palette);
  uint8_t nearest(const Rgb& colour);
  std::vector<uint8_t> map(const data::Image& frame);  // one index per pixel, row-major

 private:
  std::vector<Rgb> palette_;
  std::vector<int16_t> cache_;  // by r << 16 | g << 8 | b; -1 until asked
};

// Delays in hundredths of a second (GIF's unit) that keep `fps` on average: frame k lasts from
// round(100 k / fps) to round(100 (k + 1) / fps), e.g. 3, 4, 3, 3, 4, 3 ... at 30 fps.
std::vector<uint16_t> gif_delays(int frames, double fps);

// Streams an endlessly looping width x height animation with `palette` as its only (global) colour table,
// frame by frame: add() maps a frame to the palette and hands it to cgif, which keeps only the frame
// before it. Each frame is encoded only in the rectangle that changed, and with a palette of under 256
// colours, pixels equal to the previous frame's become transparent. Frame k lasts gif_delays(.., fps)[k].
// The GIF is written as "<path>.tmp" and renamed over `path` by finish(): a run that fails or stops
// before then leaves no partial GIF (the destructor removes it) and an existing file at `path` untouched.
class GifWriter {
 public:
  GifWriter(const std::string& path, int width, int height, const std::vector<Rgb>& palette, double fps);
  ~GifWriter();
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;

  void add(const data::Image& frame);
  void finish();  // at least one frame added

 private:
  std::string path_, temporary_;
  int width_, height_;
  double fps_;
  std::vector<uint8_t> flat_palette_;  // cgif reads it until the GIF is closed
  PaletteMapper mapper_;
  st_gif* gif_ = nullptr;  // null once closed
  int frames_ = 0;
};

// A GifWriter fed `frames` (one size) in order.
void write_gif(const std::string& path, const std::vector<data::Image>& frames, const std::vector<Rgb>& palette,
               double fps);

}  // namespace keynet::apps
