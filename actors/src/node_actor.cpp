/// The node actor: gets a job's tasks running in its actor system.
///
/// Its messages: protocol.hpp, "Node".
///
/// A node finds the job a task belongs to by its id in the process's job
/// registry (job_registry.hpp). A job's graph and functions never travel: the submitting process
/// registers the job it compiled, and a task host, which runs the same program,
/// the job it built itself (docs/operations.md, "How a job is shipped").

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>
#include <sage/detail/run_record.hpp>

#include <sage/actors/job_registry.hpp>
#include <sage/actors/program_store.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/system.hpp>
#include <sage/detail/environment_variables.hpp>

#include "process.hpp"

// A node's helper hands back the promise it answers with; it never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(caf::response_promise)

namespace sage::actors {

namespace {

using namespace std::chrono_literals;

/// How often a daemon looks for task hosts that ended.
constexpr auto reap_interval = 200ms;
/// How long a task host may take to exit after its job ended, before it is killed.
constexpr auto orphan_grace = std::chrono::seconds(5);
/// How long a daemon waits for the head to send it a program.
constexpr auto program_fetch_timeout = 120s;

/// A task host this node started.
struct TaskHost {
  std::string job_id;
  uint32_t index = 0;
  caf::actor dispatcher;
  std::string log_path;
  int ready_pipe = -1;  ///< read end while it starts: it writes a byte once it is up
};

/// How many task hosts a node starts at once; more launches wait their turn
/// (a task host starting is a whole program starting: on a busy machine, dozens
/// at once starve each other and the cluster's heartbeats).
size_t max_starting() { return std::max(2u, std::thread::hardware_concurrency()); }

class NodeActor final : public caf::event_based_actor {
 public:
  NodeActor(caf::actor_config& cfg, NodeSetup setup)
      : caf::event_based_actor(cfg),
        setup_(std::move(setup)),
        programs_(setup_.hosts_programs ? setup_.state_dir + "/programs" : std::string{}) {}

  const char* name() const override { return "sage.node"; }

  caf::behavior make_behavior() override {
    set_default_handler(drop_unexpected);
    set_down_handler([this](caf::down_msg& dm) { on_dispatcher_down(dm); });
    return {
        [this](spawn_tasks_atom, const std::string& job_id, const std::vector<int32_t>& tasks,
               const caf::actor& dispatcher) -> caf::result<std::vector<TaskHandle>> {
          auto job = find_job(job_id);
          if (!job)
            return make_error(ErrorCode::no_such_job, "this node does not host job " + job_id);
          std::vector<TaskHandle> spawned;
          for (int32_t t : tasks) {
            if (t < 0 || static_cast<size_t>(t) >= job->plan.tasks.size())
              return make_error(ErrorCode::malformed,
                                "job " + job_id + " has no task " + std::to_string(t));
            spawned.push_back(spawn_task(this, job, t, dispatcher));
          }
          detail::log("runtime").debug("node: {} tasks of job {} spawned", spawned.size(), job_id);
          return spawned;
        },
        [this](spawn_services_atom, const std::string& job_id,
               const std::vector<int32_t>& instances,
               bool restart) -> caf::result<std::vector<caf::actor>> {
          auto job = find_job(job_id);
          if (!job)
            return make_error(ErrorCode::no_such_job, "this node does not host job " + job_id);
          std::vector<caf::actor> spawned;
          for (int32_t s : instances) {
            auto instance = spawn_job_service(system(), job, s, restart);
            if (!instance) {
              for (auto& a : spawned) send_exit(a, caf::exit_reason::user_shutdown);
              return std::move(instance.error());
            }
            spawned.push_back(std::move(*instance));
          }
          return spawned;
        },
        [this](launch_atom, const std::string& job_id, uint32_t index, const ProgramLaunch& program,
               uint64_t fingerprint, const caf::actor& dispatcher,
               const caf::actor& job_manager) -> caf::result<int32_t> {
          return launch_task_host(job_id, index, program, fingerprint, dispatcher, job_manager);
        },
        [this](peers_atom, const PeerList& peers) -> caf::result<void> {
          // Connecting blocks: a helper does it, and this node answers when it is done.
          auto promise = make_response_promise();
          auto self = caf::actor_cast<caf::actor>(this);
          spawn<caf::detached>([peers, self, promise](caf::blocking_actor* helper) mutable {
            std::string failure;
            for (const auto& address : peers.addresses) {
              const auto peer_address = parse_host_port(address);
              if (!peer_address) {
                if (failure.empty()) failure = "not a HOST:PORT: " + address.substr(0, 80);
                continue;
              }
              auto peer = connect_to(helper->system(), peer_address->host, peer_address->port);
              if (!peer && failure.empty())
                failure = "cannot reach " + address + ": " + helper->system().render(peer.error());
            }
            helper->send(self, peers_atom::value, failure, promise);
          });
          return promise;
        },
        [](peers_atom, const std::string& failure, caf::response_promise& promise) {
          if (failure.empty())
            promise.deliver(caf::unit);
          else
            promise.deliver(make_error(ErrorCode::failed, failure));
        },
        [](counters_atom, const std::string& job_id) {
          auto job = find_job(job_id);
          return job ? job->handle->counter_values() : std::vector<uint64_t>{};
        },
        [](replay_atom, uint32_t seq, uint32_t asking) -> caf::result<ReplayedJob> {
          auto seen = detail::run_record().as_seen_by(seq, asking);
          if (!seen)
            return make_error(ErrorCode::not_stored,
                              "this program submitted no cluster job " + std::to_string(seq));
          ReplayedJob r;
          r.job_id = seen->job_id;
          r.refusal = seen->refusal;
          r.ended = seen->ended;
          r.state = static_cast<int32_t>(seen->state);
          r.error = seen->error;
          r.counters = seen->counters;
          r.run_time_ms = seen->run_time_ms;
          for (const auto& o : seen->outputs) {
            r.output_types.push_back(o->type_name());
            r.output_sizes.push_back(o->encodable() ? static_cast<int64_t>(o->size()) : -1);
          }
          r.plan_lines = std::move(seen->plan_lines);
          return r;
        },
        [](replay_records_atom, uint32_t seq, uint32_t asking, uint32_t output,
           uint64_t first) -> caf::result<RecordChunk> {
          constexpr size_t chunk_bytes = size_t{1} << 20;
          auto seen = detail::run_record().as_seen_by(seq, asking);
          if (!seen || output >= seen->outputs.size())
            return make_error(ErrorCode::not_stored, "no such collected records");
          return RecordChunk{seen->outputs[output]->encode(first, chunk_bytes)};
        },
        [this](job_logs_atom, const std::string& job_id, uint64_t from) {
          return read_logs(job_id, from);
        },
        [this](job_delete_atom, const std::string& job_id) {
          if (!setup_.hosts_programs || !is_digest_like(job_id)) return;
          std::error_code ec;
          std::filesystem::remove_all(setup_.state_dir + "/jobs/" + job_id, ec);
        },
        [this](reap_atom) { reap(); },
        [this](orphan_atom, int32_t pid) {
          if (current_sender() != caf::actor_cast<caf::strong_actor_ptr>(this))
            return;  // ours only
          auto it = hosts_.find(static_cast<pid_t>(pid));
          if (it == hosts_.end()) return;  // it exited, as it should have
          detail::log("cluster").warn("node: task host {} of job {} outlived its job; killing it",
                                      pid, it->second.job_id);
          ::kill(-static_cast<pid_t>(pid), SIGKILL);  // its process group
        },
        [this](shutdown_atom) {
          detail::log("runtime").info("node: shutting down");
          quit();
        },
    };
  }

 private:
  /// Starts a task host for `job_id`, fetching the program from the head first
  /// when this node does not have it yet.
  caf::result<int32_t> launch_task_host(const std::string& job_id, uint32_t index,
                                        const ProgramLaunch& program, uint64_t fingerprint,
                                        const caf::actor& dispatcher,
                                        const caf::actor& job_manager) {
    if (!setup_.hosts_programs)
      return make_error(ErrorCode::unsupported, "this node starts no programs");
    if (!is_digest(program.digest) || !is_digest_like(job_id) || !dispatcher || !job_manager)
      return make_error(ErrorCode::malformed, "a malformed launch request");
    if (programs_.contains(program.digest))
      return start_task_host(job_id, index, program, fingerprint, dispatcher);
    // A new program: fetched once, however many of its launches arrive meanwhile.
    auto promise = make_response_promise<int32_t>();
    auto& waiting = fetching_[program.digest];
    waiting.push_back([=, this](const std::string& why) mutable {
      if (!why.empty()) {
        promise.deliver(make_error(ErrorCode::failed, why));
        return;
      }
      when_startable([=, this]() mutable {
        deliver(promise, start_now(job_id, index, program, fingerprint, dispatcher));
      });
    });
    if (waiting.size() > 1) return promise;
    const std::string digest = program.digest;
    detail::log("cluster").info("node: fetching program {} ({}) from the head", digest,
                                program.file_name);
    request(job_manager, program_fetch_timeout, get_program_atom::value, digest)
        .then(
            [=, this](const std::string& bytes) { fetched(digest, programs_.put(digest, bytes)); },
            [=, this](caf::error& err) {
              fetched(digest, "cannot fetch the program from the head: " + system().render(err));
            });
    return promise;
  }

  /// The program `digest` arrived (`why` empty) or could not be had: its launches go on.
  void fetched(const std::string& digest, const std::string& why) {
    auto waiting = std::move(fetching_[digest]);
    fetching_.erase(digest);
    for (auto& launch : waiting) launch(why);
  }

  /// Starts a task host now, or once fewer than `max_starting()` are starting.
  caf::result<int32_t> start_task_host(const std::string& job_id, uint32_t index,
                                       const ProgramLaunch& program, uint64_t fingerprint,
                                       const caf::actor& dispatcher) {
    if (starting() < max_starting())
      return start_now(job_id, index, program, fingerprint, dispatcher);
    auto promise = make_response_promise<int32_t>();
    when_startable([=, this]() mutable {
      deliver(promise, start_now(job_id, index, program, fingerprint, dispatcher));
    });
    return promise;
  }

  /// Runs `launch` now, or once fewer than `max_starting()` task hosts are starting.
  void when_startable(std::function<void()> launch) {
    if (starting() < max_starting()) {
      launch();
      return;
    }
    detail::log("cluster").info("node: {} task hosts are starting; a launch waits its turn",
                                starting());
    queued_.push_back(std::move(launch));
  }

  template <class Promise>
  static void deliver(Promise& promise, const caf::expected<int32_t>& started) {
    if (started)
      promise.deliver(*started);
    else
      promise.deliver(started.error());
  }

  [[nodiscard]] size_t starting() const {
    return static_cast<size_t>(std::count_if(
        hosts_.begin(), hosts_.end(), [](const auto& h) { return h.second.ready_pipe >= 0; }));
  }

  /// Task hosts that said they are up (or ended) no longer count as starting;
  /// queued launches take their places.
  void check_started() {
    for (auto& [pid, host] : hosts_) {
      if (host.ready_pipe < 0) continue;
      char byte = 0;
      const auto n = ::read(host.ready_pipe, &byte, 1);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      ::close(host.ready_pipe);  // a byte, or the end: it is up, or gone
      host.ready_pipe = -1;
    }
    while (!queued_.empty() && starting() < max_starting()) {
      auto launch = std::move(queued_.front());
      queued_.pop_front();
      launch();
    }
  }

  caf::expected<int32_t> start_now(const std::string& job_id, uint32_t index,
                                   const ProgramLaunch& program, uint64_t fingerprint,
                                   const caf::actor& dispatcher) {
    const std::string job_dir = setup_.state_dir + "/jobs/" + job_id;
    std::error_code ec;
    std::filesystem::create_directories(job_dir, ec);
    ProcessSpec spec;
    spec.program = programs_.path(program.digest);
    spec.argv0 = program.file_name;  // as the submitter ran it: a program may look at argv[0]
    spec.args = program.args;
    // The submitter's working directory where this machine has it (a loopback
    // cluster, shared storage), so that relative paths mean the same.
    spec.working_dir =
        !program.working_dir.empty() && std::filesystem::is_directory(program.working_dir, ec)
            ? program.working_dir
            : job_dir;
    spec.log_path = job_dir + "/" + log_name();
    namespace env = detail::env;
    spec.env = {env::assignment(env::task_host, job_id),
                env::assignment(env::task_host_index, std::to_string(index)),
                env::assignment(env::task_host_fingerprint, std::to_string(fingerprint)),
                env::assignment(env::task_host_bind, setup_.bind),
                env::assignment(env::head_address,
                                setup_.head_host + ":" + std::to_string(setup_.head_port)),
                setup_.tls.env(),  // the task host presents this node's credentials
                env::assignment(env::task_host_submission, std::to_string(program.submission)),
                env::assignment(env::submitter_address, program.submitter_address)};
    if (program.under_job_submit) spec.env.push_back(env::assignment(env::job_submit, "1"));
    int ready[2] = {-1, -1};
    if (::pipe2(ready, O_CLOEXEC | O_NONBLOCK) == 0) {
      spec.ready_fd = ready[1];
      spec.env.push_back(env::assignment(env::task_host_ready_fd, "3"));
    }
    pid_t pid = 0;
    try {
      pid = start_process(spec);
    } catch (const std::exception& e) {
      if (ready[0] >= 0) ::close(ready[0]);
      if (ready[1] >= 0) ::close(ready[1]);
      return make_error(ErrorCode::failed, e.what());
    }
    if (ready[1] >= 0) ::close(ready[1]);
    detail::log("cluster").info("node: started task host {} for job {} ({}), log {}", pid, job_id,
                                program.file_name, spec.log_path);
    hosts_[pid] = TaskHost{job_id, index, dispatcher, spec.log_path, ready[0]};
    monitor(dispatcher);  // a task host whose Dispatcher is gone is ended (see on_down)
    if (hosts_.size() == 1) delayed_send(this, reap_interval, reap_atom::value);
    return static_cast<int32_t>(pid);
  }

  /// One log per job and node, named as the node's own log: "worker-4711.log".
  std::string log_name() const {
    return to_string(setup_.role) + "-" + std::to_string(::getpid()) + ".log";
  }

  /// A job's Dispatcher ended (normally, its task hosts are told to exit just
  /// before; or it died, or the head did). Task hosts still running a little
  /// later would run on for nobody: they are killed then.
  void on_dispatcher_down(const caf::down_msg& dm) {
    for (const auto& [pid, host] : hosts_)
      if (host.dispatcher.address() == dm.source)
        delayed_send(this, orphan_grace, orphan_atom::value, static_cast<int32_t>(pid));
  }

  void reap() {
    check_started();
    for (auto it = hosts_.begin(); it != hosts_.end();) {
      int status = 0;
      if (::waitpid(it->first, &status, WNOHANG) != it->first) {
        ++it;
        continue;
      }
      const auto& host = it->second;
      std::string why = describe_exit(status);
      // A program that exited with an error usually said why last.
      if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        if (auto last = last_line(host.log_path); !last.empty()) why += ": " + last;
      detail::log("cluster").info("node: task host {} of job {} {}", it->first, host.job_id, why);
      // The Dispatcher ignores this once the job ended (a task host exits when it did).
      send(host.dispatcher, host_exited_atom::value, host.index, why);
      if (host.ready_pipe >= 0) ::close(host.ready_pipe);
      it = hosts_.erase(it);
    }
    check_started();
    if (!hosts_.empty()) delayed_send(this, reap_interval, reap_atom::value);
  }

  /// This node's log lines of a job from byte `from` on (every task host log
  /// of the job here, in name order), at most 1 MB; and the offset after them.
  std::tuple<std::string, uint64_t> read_logs(const std::string& job_id, uint64_t from) const {
    constexpr uint64_t max_chunk = uint64_t{1} << 20;
    if (!setup_.hosts_programs || !is_digest_like(job_id)) return {std::string{}, from};
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(setup_.state_dir + "/jobs/" + job_id, ec))
      if (entry.path().extension() == ".log") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    // The files one after the other, read from `from` on (not from their start).
    std::string chunk;
    uint64_t skipped = 0;
    for (const auto& f : files) {
      const auto size = static_cast<uint64_t>(std::filesystem::file_size(f, ec));
      if (ec) continue;
      if (skipped + size <= from) {
        skipped += size;
        continue;
      }
      std::ifstream in(f, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(from > skipped ? from - skipped : 0));
      std::string part(static_cast<size_t>(std::min<uint64_t>(max_chunk - chunk.size(), size)),
                       '\0');
      in.read(part.data(), static_cast<std::streamsize>(part.size()));
      part.resize(static_cast<size_t>(in.gcount()));
      chunk += part;
      skipped += size;
      if (chunk.size() >= max_chunk) break;
    }
    if (chunk.size() >= max_chunk) {  // end on a whole line
      const auto last = chunk.rfind('\n');
      if (last != std::string::npos) chunk.resize(last + 1);
    }
    return {chunk, from + chunk.size()};
  }

  static bool is_digest_like(const std::string& id) {
    return !id.empty() && id.size() <= 64 &&
           id.find_first_not_of("0123456789abcdef") == std::string::npos;
  }

  NodeSetup setup_;
  ProgramStore programs_;
  std::map<pid_t, TaskHost> hosts_;
  std::deque<std::function<void()>> queued_;  ///< launches waiting for a starting slot
  /// Launches waiting for a program being fetched from the head, by digest.
  std::map<std::string, std::vector<std::function<void(const std::string&)>>> fetching_;
};

}  // namespace

caf::actor spawn_node(caf::actor_system& system, NodeSetup setup) {
  return system.spawn<NodeActor>(std::move(setup));
}

}  // namespace sage::actors
