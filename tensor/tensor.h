// Tensor: shared Storage + element offset + shape (up to 4-D, NCHW, outermost first like PyTorch),
// always contiguous. Copies of a Tensor share storage (like torch.Tensor); clone() copies data.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"
#include "tensor/storage.h"

namespace keynet {

using Shape = std::vector<int64_t>;
std::string to_string(const Shape& shape);  // "[8,3,224,224]"
int64_t numel(const Shape& shape);

class Rng;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  static Tensor empty(const Shape& shape, Device device = Device::CPU, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, Device device = Device::CPU, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);  // CPU
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);    // CPU, F32
  static Tensor from_vector(const Shape& shape, const std::vector<double>& values);   // CPU, F64
  static Tensor uniform(const Shape& shape, Rng& rng, double low, double high, DType dtype = DType::F32);
  static Tensor normal(const Shape& shape, Rng& rng, double mean, double stddev, DType dtype = DType::F32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const;  // negative counts from the end
  int64_t numel() const { return keynet::numel(shape_); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * element_size(dtype_); }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  bool is_cpu() const { return device_ == Device::CPU; }
  bool is_cuda() const { return device_ == Device::CUDA; }
  std::string describe() const;  // "[8,3,224,224] float32 cuda"

  // Raw element pointer; T must match dtype (checked).
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw();
  const void* raw() const;

  Tensor to(Device device) const;  // a copy on `device` (shares nothing), or *this if already there
  Tensor to(DType dtype) const;    // CPU only; a converted copy, or *this if already that dtype
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same shape and dtype; any devices
  void zero_();

  Tensor reshape(const Shape& shape) const;                        // shares storage; -1 infers one dim
  Tensor view(int64_t element_offset, const Shape& shape) const;  // a contiguous slice of this tensor

  // CPU element access, for tests and tools (slow: one bounds check per call).
  double at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, double value);
  std::vector<float> to_float_vector() const;  // CPU tensors; converts F64
  std::vector<double> to_double_vector() const;

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;

  int64_t flat_index(std::initializer_list<int64_t> index) const;
};

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }

template <class T>
T* Tensor::data() {
  KEYNET_CHECK(defined(), "data() of an undefined tensor");
  KEYNET_CHECK(dtype_ == dtype_of<T>(), "tensor ", describe(), " accessed as ", to_string(dtype_of<T>()));
  return static_cast<T*>(storage_->data()) + offset_;
}
template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}

// Shape checks with both shapes in the message.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* what);

}  // namespace keynet
