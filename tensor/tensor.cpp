#include "tensor/tensor.h"

#include <cstring>
#include <sstream>

#include "tensor/cuda_memory.h"
#include "tensor/rng.h"

namespace keynet {

std::string to_string(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << "]";
  return out.str();
}

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {
void validate_shape(const Shape& shape) {
  KEYNET_CHECK(shape.size() <= 4, "tensors have at most 4 dimensions, got shape ", to_string(shape));
  for (int64_t d : shape) KEYNET_CHECK(d >= 0, "negative dimension in shape ", to_string(shape));
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  validate_shape(shape);
  KEYNET_CHECK(device == Device::CPU || dtype == DType::F32, "float64 tensors exist only on the CPU");
  Tensor t;
  t.shape_ = shape;
  t.device_ = device;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(keynet::numel(shape) * element_size(dtype), device);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, Device::CPU, dtype);
  const int64_t n = t.numel();
  if (dtype == DType::F32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(value);
  } else {
    double* p = t.data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = value;
  }
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  KEYNET_CHECK(keynet::numel(shape) == static_cast<int64_t>(values.size()), "from_vector: shape ",
               to_string(shape), " needs ", keynet::numel(shape), " values, got ", values.size());
  Tensor t = empty(shape);
  std::memcpy(t.raw(), values.data(), t.bytes());
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<double>& values) {
  KEYNET_CHECK(keynet::numel(shape) == static_cast<int64_t>(values.size()), "from_vector: shape ",
               to_string(shape), " needs ", keynet::numel(shape), " values, got ", values.size());
  Tensor t = empty(shape, Device::CPU, DType::F64);
  std::memcpy(t.raw(), values.data(), t.bytes());
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, double low, double high, DType dtype) {
  Tensor t = empty(shape, Device::CPU, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = rng.uniform(low, high);
    if (dtype == DType::F32) t.data<float>()[i] = static_cast<float>(v);
    else t.data<double>()[i] = v;
  }
  return t;
}

Tensor Tensor::normal(const Shape& shape, Rng& rng, double mean, double stddev, DType dtype) {
  Tensor t = empty(shape, Device::CPU, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = mean + stddev * rng.normal();
    if (dtype == DType::F32) t.data<float>()[i] = static_cast<float>(v);
    else t.data<double>()[i] = v;
  }
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  const int k = i < 0 ? i + n : i;
  KEYNET_CHECK(k >= 0 && k < n, "dimension ", i, " out of range for shape ", to_string(shape_));
  return shape_[k];
}

std::string Tensor::describe() const {
  if (!defined()) return "(undefined tensor)";
  return to_string(shape_) + " " + to_string(dtype_) + " " + keynet::to_string(device_);
}

void* Tensor::raw() {
  KEYNET_CHECK(defined(), "raw() of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * element_size(dtype_);
}
const void* Tensor::raw() const { return const_cast<Tensor*>(this)->raw(); }

Tensor Tensor::to(Device device) const {
  KEYNET_CHECK(defined(), "to(", keynet::to_string(device), ") of an undefined tensor");
  if (device == device_) return *this;
  Tensor t = empty(shape_, device, dtype_);
  cuda_memory::copy(t.raw(), device, raw(), device_, bytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  KEYNET_CHECK(defined(), "to(", to_string(dtype), ") of an undefined tensor");
  if (dtype == dtype_) return *this;
  KEYNET_CHECK(is_cpu(), "dtype conversion runs on the CPU; tensor is ", describe());
  Tensor t = empty(shape_, Device::CPU, dtype);
  const int64_t n = numel();
  if (dtype == DType::F64) {
    const float* src = data<float>();
    double* dst = t.data<double>();
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    const double* src = data<double>();
    float* dst = t.data<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
  }
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, device_, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  KEYNET_CHECK(shape_ == src.shape_ && dtype_ == src.dtype_, "copy_from: destination ", describe(),
               " and source ", src.describe(), " differ");
  if (device_ == Device::CPU && src.device_ == Device::CPU)
    std::memcpy(raw(), src.raw(), bytes());
  else
    cuda_memory::copy(raw(), device_, src.raw(), src.device_, bytes());
}

void Tensor::zero_() {
  if (!defined() || numel() == 0) return;
  if (is_cpu())
    std::memset(raw(), 0, bytes());
  else
    cuda_memory::set_zero(raw(), bytes());
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int infer = -1;
  int64_t known = 1;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      KEYNET_CHECK(infer < 0, "reshape: more than one -1 in ", to_string(shape));
      infer = static_cast<int>(i);
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    KEYNET_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer ", to_string(shape), " from ",
                 to_string(shape_));
    resolved[infer] = numel() / known;
  }
  validate_shape(resolved);
  KEYNET_CHECK(keynet::numel(resolved) == numel(), "reshape: ", to_string(shape_), " (", numel(),
               " elements) cannot become ", to_string(shape));
  Tensor t = *this;
  t.shape_ = resolved;
  return t;
}

Tensor Tensor::view(int64_t element_offset, const Shape& shape) const {
  validate_shape(shape);
  KEYNET_CHECK(element_offset >= 0 && element_offset + keynet::numel(shape) <= numel(), "view: [",
               element_offset, ", +", keynet::numel(shape), ") outside a tensor of shape ", to_string(shape_));
  Tensor t = *this;
  t.offset_ += element_offset;
  t.shape_ = shape;
  return t;
}

int64_t Tensor::flat_index(std::initializer_list<int64_t> index) const {
  KEYNET_CHECK(is_cpu(), "element access needs a CPU tensor; this one is ", describe());
  KEYNET_CHECK(static_cast<int>(index.size()) == ndim(), "index with ", index.size(), " coordinates into shape ",
               to_string(shape_));
  int64_t flat = 0;
  int i = 0;
  for (int64_t k : index) {
    KEYNET_CHECK(k >= 0 && k < shape_[i], "index ", k, " out of range in dimension ", i, " of shape ",
                 to_string(shape_));
    flat = flat * shape_[i] + k;
    ++i;
  }
  return flat;
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  const int64_t k = flat_index(index);
  return dtype_ == DType::F32 ? data<float>()[k] : data<double>()[k];
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  const int64_t k = flat_index(index);
  if (dtype_ == DType::F32) data<float>()[k] = static_cast<float>(value);
  else data<double>()[k] = value;
}

std::vector<float> Tensor::to_float_vector() const {
  KEYNET_CHECK(is_cpu(), "to_float_vector needs a CPU tensor (call .to(Device::CPU) first); got ", describe());
  const Tensor f = to(DType::F32);
  return std::vector<float>(f.data<float>(), f.data<float>() + numel());
}

std::vector<double> Tensor::to_double_vector() const {
  KEYNET_CHECK(is_cpu(), "to_double_vector needs a CPU tensor (call .to(Device::CPU) first); got ", describe());
  const Tensor d = to(DType::F64);
  return std::vector<double>(d.data<double>(), d.data<double>() + numel());
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  KEYNET_CHECK(a.shape() == b.shape(), what, ": shapes differ: ", to_string(a.shape()), " vs ", to_string(b.shape()));
}

void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
  KEYNET_CHECK(a.device() == b.device() && a.dtype() == b.dtype(), what, ": tensors on different devices or dtypes: ",
               a.describe(), " vs ", b.describe());
}

}  // namespace keynet
