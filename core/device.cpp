#include <ember/core/device.h>
#include <ember/core/error.h>

namespace ember {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    index = 0;
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    index = 0;
    if (spec.size() == 4) return;
    if (spec[4] == ':' && spec.size() > 5) {
      size_t used = 0;
      try {
        index = std::stoi(spec.substr(5), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == spec.size() - 5 && index >= 0) return;
    }
  }
  EMBER_FAIL("invalid device '", spec, "': expected cpu, cuda or cuda:<index>");
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

}  // namespace ember
