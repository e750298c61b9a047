#include "two_nodes.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include <sage/actors/node_server.hpp>
#include <sage/detail/runtime.hpp>

namespace sage::bench {

double on_two_nodes(const sage::Config& cfg, const std::function<double()>& job) {
  sage::actors::NodeServer worker(cfg);
  std::weak_ptr<sage::detail::Runtime> runtime_left;
  double result = 0;
  {
    auto runtime = sage::detail::embedded_runtime(cfg);
    runtime->add_node("127.0.0.1", worker.port());
    runtime_left = runtime;
    result = job();
  }
  for (int i = 0; !runtime_left.expired(); ++i) {
    if (i == 1000) throw std::runtime_error("the in-process runtime did not end within 10 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return result;
}

}  // namespace sage::bench
