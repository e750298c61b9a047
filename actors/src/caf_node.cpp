/// `sage::Node` (sage/caf.hpp, docs/caf-integration.md): SAGE's runtime on an
/// application's actor system; the actors through which plain CAF actors call
/// services and feed `from_actor` sources; joining a cluster as a worker.

#include <sage/caf.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <typeinfo>
#include <unordered_map>

#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/credentials.hpp>
#include <sage/actors/errors.hpp>
#include <sage/actors/node_runtime.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/services.hpp>
#include <sage/actors/system.hpp>
#include <sage/detail/log.hpp>
#include <sage/detail/runtime.hpp>

static_assert(std::is_same_v<sage::call_atom, sage::actors::call_atom>,
              "a plain actor's call and a service instance's are one message");

namespace sage {

namespace {

using namespace std::chrono_literals;

using feed_accepted_atom = caf::atom_constant<caf::atom("feed_ok")>;
using proxy_answer_atom = caf::atom_constant<caf::atom("proxy_ans")>;
using rejoin_atom = caf::atom_constant<caf::atom("rejoin")>;

/// The C++ type of a message element: CAF gives a builtin type only its number.
class BuiltinTypes {
 public:
  BuiltinTypes() { add(caf::sorted_builtin_types{}); }
  [[nodiscard]] const std::type_info* of(const caf::rtti_pair& rtti) const {
    if (rtti.second != nullptr) return rtti.second;
    return rtti.first < by_number_.size() ? by_number_[rtti.first] : nullptr;
  }
  /// The builtin type number of `t` (0: not builtin).
  [[nodiscard]] uint16_t number(const std::type_info& t) const {
    auto it = numbers_.find(std::type_index(t));
    return it == numbers_.end() ? 0 : it->second;
  }

 private:
  template <class... Ts>
  void add(caf::detail::type_list<Ts...>) {
    by_number_.assign(caf::type_nrs, nullptr);
    ((by_number_[caf::type_nr<Ts>::value] = &typeid(Ts),
      numbers_[std::type_index(typeid(Ts))] = caf::type_nr<Ts>::value),
     ...);
  }
  std::vector<const std::type_info*> by_number_;
  std::unordered_map<std::type_index, uint16_t> numbers_;
};

const BuiltinTypes& builtin_types() {
  static const BuiltinTypes types;
  return types;
}

/// A call's answer, from the router's thread to the proxy's.
struct ProxyAnswer {
  uint64_t id = 0;
  detail::Payload result;
  std::exception_ptr error;
};

}  // namespace
}  // namespace sage

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sage::ProxyAnswer)

namespace sage {

namespace {

/// A tuple of one type-erased value: what `caf::message::copy` makes a message of.
class OneValue final : public caf::type_erased_tuple {
 public:
  explicit OneValue(caf::type_erased_value_ptr v) : v_(std::move(v)) {}
  void* get_mutable(size_t) override { return v_->get_mutable(); }
  caf::error load(size_t, caf::deserializer& source) override { return v_->load(source); }
  size_t size() const noexcept override { return 1; }
  uint32_t type_token() const noexcept override {
    return caf::add_to_type_token(0xFFFFFFFF, v_->type().first);
  }
  caf::rtti_pair type(size_t) const noexcept override { return v_->type(); }
  const void* get(size_t) const noexcept override { return v_->get(); }
  std::string stringify(size_t) const override { return v_->stringify(); }
  caf::type_erased_value_ptr copy(size_t) const override { return v_->copy(); }
  caf::error save(size_t, caf::serializer& sink) const override { return v_->save(sink); }

 private:
  caf::type_erased_value_ptr v_;
};

/// The result of a call as a CAF message: a value of the result's type, made
/// by the actor system from the type (builtin, or registered by the application).
caf::expected<caf::message> as_message(caf::actor_system& system, const detail::Payload& p) {
  const std::type_info* type = p.type();
  if (type == nullptr)
    return actors::make_error(actors::ErrorCode::service_error,
                              "the service's answer came as bytes; a plain actor's call gets "
                              "values from services in its own process only");
  if (*type == typeid(std::tuple<>)) return caf::make_message();  // a void method
  caf::type_erased_value_ptr value;
  if (auto nr = builtin_types().number(*type); nr != 0)
    value = system.types().make_value(nr);
  else
    value = system.types().make_value(*type);
  if (!value || !p.copy_to(value->get_mutable()))
    return actors::make_error(actors::ErrorCode::service_error,
                              "the service answered a " + detail::type_name(*type) +
                                  ", which this actor system cannot put in a message: register it "
                                  "(cfg.add_message_type<T>(\"name\")) before the system is made");
  return caf::message::copy(OneValue{std::move(value)});
}

/// Calls service `name` for plain actors: `(call_atom, method, args...)`.
caf::behavior service_proxy(caf::event_based_actor* self, std::string name,
                            std::shared_ptr<detail::ServiceClient> client) {
  auto pending = std::make_shared<std::map<uint64_t, caf::response_promise>>();
  auto next = std::make_shared<uint64_t>(0);
  self->set_default_handler([self, name, client, pending, next](
                                caf::scheduled_actor*,
                                caf::message_view& view) -> caf::result<caf::message> {
    auto msg = view.move_content_to_message();
    if (msg.size() < 2 || !msg.match_element<caf::atom_value>(0) ||
        msg.get_as<caf::atom_value>(0) != call_atom::value || !msg.match_element<std::string>(1))
      return actors::make_error(
          actors::ErrorCode::malformed,
          "a call to service '" + name + "' is (sage::call_atom, std::string method, args...)");
    detail::CallOptions options;
    options.method = msg.get_as<std::string>(1);
    std::vector<detail::Payload::Element> elements;
    for (size_t i = 2; i < msg.size(); ++i)
      elements.push_back({builtin_types().of(msg.type(i)), msg.at(i)});
    auto keep = std::make_shared<const caf::message>(msg);
    const uint64_t id = ++*next;
    auto promise = self->make_response_promise();
    pending->emplace(id, promise);
    auto me = caf::actor_cast<caf::actor>(self);
    client->call(name, options, detail::Payload::of_elements(std::move(elements), keep),
                 [me, id](detail::Payload result, std::exception_ptr error) {
                   caf::anon_send(me, proxy_answer_atom::value,
                                  ProxyAnswer{id, std::move(result), std::move(error)});
                 });
    return promise;
  });
  return {
      [self, pending](proxy_answer_atom, ProxyAnswer& answer) {
        auto it = pending->find(answer.id);
        if (it == pending->end()) return;
        auto promise = std::move(it->second);
        pending->erase(it);
        if (answer.error) {
          promise.deliver(
              actors::make_error(actors::ErrorCode::service_error, actors::words_of(answer.error)));
          return;
        }
        auto reply = as_message(self->system(), answer.result);
        if (reply)
          promise.deliver(std::move(*reply));
        else
          promise.deliver(std::move(reply.error()));
      },
  };
}

/// Feeds a `from_actor` source: `std::vector<T>` (answered once accepted) and `eos_atom`.
caf::behavior feed_actor(caf::event_based_actor* self, std::string name,
                         std::shared_ptr<detail::ActorFeedBase> feed) {
  auto pending = std::make_shared<std::map<uint64_t, caf::response_promise>>();
  auto next = std::make_shared<uint64_t>(0);
  self->set_default_handler(
      [self, name, feed, pending, next](caf::scheduled_actor*,
                                        caf::message_view& view) -> caf::result<caf::message> {
        auto msg = view.move_content_to_message();
        const std::type_info* type = msg.size() == 1 ? builtin_types().of(msg.type(0)) : nullptr;
        if (type == nullptr || *type != feed->batch_type())
          return actors::make_error(actors::ErrorCode::malformed,
                                    "source '" + name + "' takes a " +
                                        detail::type_name(feed->batch_type()) +
                                        " or sage::eos_atom, not " + caf::to_string(msg));
        if (feed->closed())
          return actors::make_error(actors::ErrorCode::refused, "source '" + name + "' has ended");
        const uint64_t id = ++*next;
        auto promise = self->make_response_promise();
        pending->emplace(id, promise);
        feed->offer(msg.at(0), [me = caf::actor_cast<caf::actor>(self), id](bool accepted) {
          caf::anon_send(me, feed_accepted_atom::value, id, accepted);
        });
        return promise;
      });
  return {
      [pending, name](feed_accepted_atom, uint64_t id, bool accepted) {
        auto it = pending->find(id);
        if (it == pending->end()) return;
        if (accepted)
          it->second.deliver(caf::unit);
        else
          it->second.deliver(
              actors::make_error(actors::ErrorCode::refused, "source '" + name + "' has ended"));
        pending->erase(it);
      },
      [feed](eos_atom) { feed->end(); },
  };
}

/// The application's node as a cluster's worker: registers it with the head,
/// and again whenever the head is lost. Detached: connecting blocks.
caf::behavior cluster_membership(caf::event_based_actor* self, caf::actor node,
                                 actors::NodeInfo info, std::string host, uint16_t port,
                                 caf::actor job_manager) {
  struct State {
    caf::actor job_manager;
    int failed = 0;
  };
  auto state = std::make_shared<State>();
  state->job_manager = std::move(job_manager);
  self->monitor(state->job_manager);
  const std::string head = host + ":" + std::to_string(port);
  self->set_down_handler([self, state, head](caf::down_msg& dm) {
    if (!state->job_manager || dm.source != state->job_manager.address()) return;
    detail::log("cluster").warn("node: lost the head at {} ({}); reconnecting", head,
                                to_string(dm.reason));
    state->job_manager = nullptr;
    self->send(self, rejoin_atom::value);
  });
  return {
      [self, state, node, info, host, port, head](rejoin_atom) {
        auto jm = actors::connect_to(self->system(), host, port);
        if (!jm) {
          if (state->failed++ % 10 == 0)
            detail::log("cluster").warn("node: cannot reach the head at {}: {}", head,
                                        self->system().render(jm.error()));
          self->delayed_send(self, 1s, rejoin_atom::value);
          return;
        }
        self->request(*jm, 10s, actors::register_node_atom::value, info, node)
            .then(
                [self, state, jm = *jm, head](uint32_t index) {
                  detail::log("cluster").info("node: registered again with {} as node {}", head,
                                              index);
                  state->job_manager = jm;
                  state->failed = 0;
                  self->monitor(jm);
                },
                [self](caf::error&) { self->delayed_send(self, 1s, rejoin_atom::value); });
      },
  };
}

/// The jobs of a Node run on its runtime, as a LocalEnvironment's on the embedded one.
class NodeEnvironment final : public Environment {
 public:
  NodeEnvironment(std::string name, Config cfg, std::shared_ptr<detail::Runtime> runtime)
      : Environment(std::move(name), std::move(cfg)), runtime_(std::move(runtime)) {}

 protected:
  std::shared_ptr<detail::Runtime> runtime() override { return runtime_; }

 private:
  std::shared_ptr<detail::Runtime> runtime_;
};

/// Registers SAGE's message types with a system made without them (the
/// registry is read as messages are (de)serialized: before any SAGE message).
void register_late(caf::actor_system& system) {
  if (system.types().portable_name(caf::make_rtti_pair<actors::BatchMessage>()) != "???") return;
  actors::register_message_types(const_cast<caf::actor_system_config&>(system.config()));
}

}  // namespace

struct Node::Impl {
  Impl(caf::actor_system& s, Config c) : system(s), cfg(std::move(c)) {}
  caf::actor_system& system;
  Config cfg;
  std::shared_ptr<detail::Runtime> runtime;
  std::mutex mutex;
  std::map<std::string, caf::actor> services;  // guarded by mutex
  std::map<std::pair<std::string, std::string>, caf::actor> sources;
  std::vector<caf::actor> actors;  ///< ended with the node
  std::function<void()> stop_transport;
  caf::actor cluster_node;
  std::string temporary_state_dir;  ///< made by join_cluster, removed with the node
};

void Node::configure(caf::actor_system_config& cfg) {
  actors::register_message_types(cfg);
  cfg.load<caf::io::middleman>();
  actors::configure_heartbeat(cfg);
  cfg.set("scheduler.max-throughput", size_t{64});
}

Node::Node(caf::actor_system& system, Config cfg)
    : impl_(std::make_unique<Impl>(system, std::move(cfg))) {
  if (!system.has_middleman())
    throw std::logic_error(
        "sage::Node: the actor system has no network layer: cfg.load<caf::io::middleman>() "
        "(or sage::Node::configure(cfg)) before the system is made");
  register_late(system);
  impl_->runtime = detail::runtime_on(system);
}

Node::~Node() {
  std::vector<caf::actor> actors;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    for (auto& [n, a] : impl_->services) actors.push_back(a);
    for (auto& [n, a] : impl_->sources) actors.push_back(a);
    impl_->services.clear();
    impl_->sources.clear();
  }
  if (impl_->cluster_node) actors.push_back(impl_->cluster_node);
  for (auto& a : impl_->actors) actors.push_back(a);
  for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  impl_->runtime.reset();  // the JobManager, its jobs and the router end
  if (impl_->stop_transport) impl_->stop_transport();
  if (!impl_->temporary_state_dir.empty()) {
    std::error_code ignored;  // what the node's task hosts left; best effort
    std::filesystem::remove_all(impl_->temporary_state_dir, ignored);
  }
}

caf::actor_system& Node::system() { return impl_->system; }

std::unique_ptr<Environment> Node::local_environment(std::string name, Config cfg) {
  Config merged = impl_->cfg;
  for (const auto& [k, v] : cfg.entries()) merged.set(k, v);
  return std::make_unique<NodeEnvironment>(std::move(name), std::move(merged), impl_->runtime);
}

caf::actor Node::service(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& proxy = impl_->services[name];
  if (!proxy) proxy = impl_->system.spawn(service_proxy, name, impl_->runtime->service_client());
  return proxy;
}

caf::actor Node::source(const JobId& job, const std::string& name) {
  const std::pair key{job.str(), name};
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (auto it = impl_->sources.find(key); it != impl_->sources.end()) return it->second;
  }
  auto feed = detail::find_actor_feed(job.str(), name, 10s);
  if (!feed)
    throw std::runtime_error("sage::Node::source: job " + job.str() + " has no running source '" +
                             name + "' (env.from_actor<T>(\"" + name + "\")) in this process");
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& actor = impl_->sources[key];
  if (!actor) actor = impl_->system.spawn(feed_actor, name, std::move(feed));
  return actor;
}

void Node::join_cluster(const std::string& host, uint16_t port, Resources resources) {
  auto& sys = impl_->system;
  const auto& c = impl_->cfg;
  const auto tls = actors::find_credentials(c.get_string("cluster.tls-dir", ""),
                                            c.get_string("cluster.secret-file", ""),
                                            c.get_bool("cluster.insecure", false));
  if (!impl_->stop_transport) impl_->stop_transport = actors::attach_secure_transport(sys, tls);
  if (impl_->cluster_node) throw std::logic_error("sage::Node: it has joined a cluster already");
  actors::NodeSetup setup;
  setup.hosts_programs = true;  // as a worker daemon: task hosts from the shipped programs
  setup.state_dir = c.get_string("node.state-dir", "");
  if (setup.state_dir.empty()) {
    setup.state_dir =
        (std::filesystem::temp_directory_path() / ("sage-node-" + std::to_string(::getpid())))
            .string();
    impl_->temporary_state_dir = setup.state_dir;
  }
  std::filesystem::create_directories(setup.state_dir);
  setup.head_host = host;
  setup.head_port = port;
  setup.tls = tls;
  setup.bind = c.get_string("node.bind", "127.0.0.1");
  setup.role = actors::NodeRole::worker;
  auto node = actors::spawn_node(sys, setup);
  auto bound = actors::publish_on(sys, node, setup.bind, 0);
  if (!bound) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    throw std::runtime_error("sage::Node::join_cluster: cannot listen on " + setup.bind + ": " +
                             sys.render(bound.error()));
  }
  actors::NodeInfo info;
  info.host = setup.bind;
  info.port = *bound;
  info.role = actors::NodeRole::worker;
  info.cpus = resources.cpus > 0 ? resources.cpus : std::thread::hardware_concurrency();
  info.memory_mb = resources.memory_mb;
  info.gpus = resources.gpus;
  info.labels = resources.labels;
  const std::string head = host + ":" + std::to_string(port);
  auto jm = actors::connect_to(sys, host, port);
  if (!jm) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    throw std::runtime_error("sage::Node::join_cluster: cannot reach the head at " + head + ": " +
                             actors::explain(sys, jm.error(), tls));
  }
  std::string refusal;
  {
    caf::scoped_actor self{sys};
    self->request(*jm, 10s, actors::register_node_atom::value, info, node)
        .receive([](uint32_t) {},
                 [&](caf::error& err) {
                   refusal = actors::words_of(err);
                   if (refusal.empty()) refusal = sys.render(err);
                 });
  }
  if (!refusal.empty()) {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    throw std::runtime_error("sage::Node::join_cluster: the head at " + head +
                             " refused this node: " + refusal);
  }
  detail::log("cluster").info("node: joined the cluster at {} as {}:{}", head, setup.bind, *bound);
  impl_->cluster_node = node;
  impl_->actors.push_back(
      sys.spawn<caf::detached>(cluster_membership, node, info, host, port, std::move(*jm)));
}

}  // namespace sage
