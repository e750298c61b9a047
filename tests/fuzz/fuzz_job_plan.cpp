// libFuzzer target: the control-plane messages a head, node or task host
// decodes from a peer with CAF 0.17's binary deserializer (what BASP does with
// a message's payload): a job plan, a replayed job, a node's description, a
// job report. The input's first byte chooses the type. CAF's deserializer
// reports malformed bytes as an error; a crash, a sanitizer report or an
// allocation beyond -malloc_limit_mb (a length a peer claims, believed) is a
// finding.

#include <cstddef>
#include <cstdint>

#include <caf/binary_deserializer.hpp>

#include <sage/actors/job_report.hpp>

namespace {

template <class T>
void decode(const uint8_t* data, size_t size) {
  caf::binary_deserializer source{nullptr, reinterpret_cast<const char*>(data), size};
  T value;
  (void)source(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 4;
  ++data;
  --size;
  switch (which) {
    case 0:
      decode<sage::actors::JobPlan>(data, size);
      break;
    case 1:
      decode<sage::actors::ReplayedJob>(data, size);
      break;
    case 2:
      decode<sage::actors::NodeInfo>(data, size);
      break;
    default:
      decode<sage::actors::JobReport>(data, size);
      break;
  }
  return 0;
}
