// Reference global average pool: one mean per (n, c) plane.
#pragma once

namespace keynet::cpu::ref {

// inp (N,C,HW) -> out (N,C)
template <class T>
void global_avg_pool_forward(T* out, const T* inp, int planes, int HW) {
  for (int plane = 0; plane < planes; ++plane) {
    T sum = T(0);
    for (int i = 0; i < HW; ++i) sum += inp[plane * HW + i];
    out[plane] = sum / T(HW);
  }
}

// dinp (N,C,HW) overwritten
template <class T>
void global_avg_pool_backward(T* dinp, const T* dout, int planes, int HW) {
  for (int plane = 0; plane < planes; ++plane)
    for (int i = 0; i < HW; ++i) dinp[plane * HW + i] = dout[plane] / T(HW);
}

}  // namespace keynet::cpu::ref
