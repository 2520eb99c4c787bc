// Seeded random numbers that are the same on every platform (std:: distributions are not), so that
// initialisation, shuffling and augmentation repeat bit for bit.
#pragma once
#include <cstdint>

namespace keynet {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();                  // xoshiro256**
  double uniform();                     // [0, 1)
  double uniform(double low, double high);
  double normal();                      // standard normal, Box-Muller
  uint64_t below(uint64_t bound);       // [0, bound), unbiased
  Rng split();                          // an independent stream derived from this one

 private:
  uint64_t state_[4];
  double spare_normal_ = 0;
  bool has_spare_ = false;
};

}  // namespace keynet
