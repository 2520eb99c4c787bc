// Animated GIFs of colour frames (through cgif). GIF frames are indexed: one palette of at most 256
// colours is chosen for the whole animation from all its frames (median cut, then k-means), and every
// frame is mapped to it by nearest colour, so colours do not flicker from frame to frame as they would
// with a palette per frame.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace keynet::apps {

using Rgb = std::array<uint8_t, 3>;

// Up to `colours` (1..256) colours for the pixels of all `frames` (gray or RGB, one size): median cut over
// an even sample of about `max_samples` pixels, refined by a few rounds of k-means on the same sample.
// The default 255 leaves write_gif one free index to mark pixels unchanged since the previous frame
// (transparent), which makes a morph's GIF about a third smaller.
constexpr int kGifPaletteColours = 255;
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

// Writes an endlessly looping animation with `palette` as its only (global) colour table. Each frame is
// encoded only in the rectangle that changed, and with a palette of under 256 colours, pixels equal to
// the previous frame's become transparent.
void write_gif(const std::string& path, const std::vector<data::Image>& frames, const std::vector<Rgb>& palette,
               double fps);

}  // namespace keynet::apps
