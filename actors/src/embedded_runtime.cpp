/// The embedded runtime behind `LocalEnvironment`: an actor system in this
/// process with a JobManager, shared by every LocalEnvironment of the process.

#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include <caf/io/middleman.hpp>

#include <sage/actors/protocol.hpp>

namespace sage::detail {

namespace {

caf::actor_system_config& configure(caf::actor_system_config& cfg, const Config& c) {
  const auto hw = std::max(1u, std::thread::hardware_concurrency());
  const auto threads = c.get_int(config_keys::scheduler_threads, hw);
  cfg.set("scheduler.max-threads", static_cast<size_t>(std::max<int64_t>(1, threads)));
  // A busy task yields its thread after this many messages, so that tasks
  // outnumbering threads still all make progress.
  cfg.set("scheduler.max-throughput", size_t{64});
  actors::register_message_types(cfg);
  // The network layer, for nodes in other actor systems. It opens no port by
  // itself; automatic connections stay off (they would listen on all interfaces).
  cfg.load<caf::io::middleman>();
  actors::configure_heartbeat(cfg);
  return cfg;
}

class EmbeddedRuntime final : public Runtime {
 public:
  explicit EmbeddedRuntime(const Config& c) : system_(configure(cfg_, c)) {
    node_ = actors::spawn_node(system_);
    actors::NodeInfo local;
    local.role = "local";
    job_manager_ = actors::spawn_job_manager(system_, node_, std::move(local));
  }

  ~EmbeddedRuntime() override {
    caf::anon_send_exit(job_manager_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    job_manager_ = nullptr;
    node_ = nullptr;
    // The actor system's destructor waits for every actor to end.
  }

  void submit(std::shared_ptr<const JobSpec> job) override {
    actors::register_job(job);
    caf::anon_send(job_manager_, actors::submit_atom::value, std::move(job));
  }

  void add_node(const std::string& host, uint16_t port) override {
    auto node = system_.middleman().remote_actor(host, port);
    if (!node)
      throw std::runtime_error("cannot reach the node at " + host + ":" + std::to_string(port) +
                               ": " + system_.render(node.error()));
    caf::anon_send(job_manager_, actors::add_node_atom::value, std::move(*node));
  }
  void stop(const JobId& id) override {
    caf::anon_send(job_manager_, actors::stop_atom::value, id.str());
  }
  void cancel(const JobId& id) override {
    caf::anon_send(job_manager_, actors::cancel_atom::value, id.str());
  }

 private:
  caf::actor_system_config cfg_;
  caf::actor_system system_;
  caf::actor node_;
  caf::actor job_manager_;
};

}  // namespace

std::shared_ptr<Runtime> embedded_runtime(const Config& cfg) {
  static std::mutex mutex;
  static std::weak_ptr<Runtime> current;
  std::lock_guard<std::mutex> guard(mutex);
  if (auto rt = current.lock()) return rt;
  auto rt = std::make_shared<EmbeddedRuntime>(cfg);
  current = rt;
  return rt;
}

}  // namespace sage::detail
