#pragma once
/// @file protocol.hpp
/// Every message the runtime's actors exchange, in one place, and nowhere else.
/// The Task and the Listener are typed actors: `TaskHandle` and `ListenerHandle`
/// below are their protocols, and a message they do not accept does not compile.
/// The others are listed here, message by message; protocol_test.cpp sends each
/// listed message and fails if one reaches an actor's default handler.
///
/// Replies: the value asked for, or a `caf::error` (errors.hpp: SAGE's codes
/// with the refusal's words, or CAF's own). "-> ok" is `caf::result<void>`: an
/// empty answer, or an error.
///
/// JobManager (one per runtime: embedded in a program, or a cluster's head; job_manager.cpp)
///   accepts  (submit_atom, JobPlan, submitter_node, ListenerHandle) -> ok
///                                                 places and deploys a job (spawns its
///                                                 Dispatcher), or refuses it
///            (stop_atom, job_id), (cancel_atom, job_id)   to the job's Dispatcher
///            (job_pause_atom | job_resume_atom, job_id)   to the job's Dispatcher
///            (add_node_atom, node) -> ok          a node tasks may be placed on
///            (register_node_atom, NodeInfo, node) -> uint32_t   a worker joins
///            (cluster_status_atom) -> ClusterStatus   nodes (alive or lost) and jobs
///            (has_program_atom, digest) -> bool   whether a program is stored
///            (put_program_atom, digest, bytes) -> ok   stores one
///            (get_program_atom, digest) -> std::string   a stored program's bytes
///            (host_ready_atom, job_id, index, node, address)  from a task host: to the
///                                                 job's Dispatcher
///            (job_end_atom, JobReport)           from a Dispatcher: the job ended
///            (job_list_atom) -> std::vector<JobReport>   every job (without counters)
///            (job_status_atom, job_id or prefix) -> JobReport   one job, with its counters
///            (job_delete_atom, job_id) -> ok      forgets an ended job
///            (job_logs_atom, job_id, offsets) -> LogChunk   the job's logs on every node
///            (shutdown_atom, bool all)            ends the runtime (and every worker)
///            (service_lookup_atom, name) -> std::vector<caf::actor>   the instances of a
///                                                 running service (none: no such service)
///            (services_up_atom, job_id, name, std::vector<caf::actor>) -> ok   from a job's
///                                                 Dispatcher: its service's instances now
///            down_msg                             a Dispatcher or a node ended
///   sends    job_delete, shutdown and counters/job_logs requests to nodes
/// Node (one per actor system: the process's, a worker's, a task host's; node_actor.cpp)
///   accepts  (spawn_tasks_atom, job_id, std::vector<int32_t> tasks, dispatcher)
///              -> std::vector<TaskHandle>         spawns those tasks of the job here
///            (spawn_services_atom, job_id, std::vector<int32_t> instances, bool restart)
///              -> std::vector<caf::actor>         spawns those service instances here
///                                                 (opened; `restart`: counted as restarts)
///            (launch_atom, job_id, index, ProgramLaunch, fingerprint, dispatcher, job_manager)
///              -> int32_t pid                     a cluster daemon starts a task host
///            (peers_atom, PeerList) -> ok         a task host connects to its peers
///            (counters_atom, job_id) -> std::vector<uint64_t>   its instances' counters
///            (job_logs_atom, job_id, offset) -> (text, next offset)   its log of the job
///            (job_delete_atom, job_id)            removes the job's files
///            (shutdown_atom)                      ends the node (a worker or task host exits)
///            (replay_atom, seq, asking) -> ReplayedJob   what the submitting program saw of
///                                                 its cluster job `seq` when it submitted
///                                                 job `asking` (a submitter's node)
///            (replay_records_atom, seq, asking, output, first) -> RecordChunk   its collected
///                                                 records, encoded, from `first` on
///   self     (reap_atom) a task host ended; (orphan_atom) a task host's head is gone
///   sends    (get_program_atom) to the JobManager; (host_exited_atom, index, why) to a
///            Dispatcher whose task host ended
/// Dispatcher (one per job; dispatcher.cpp)
///   accepts  (task_done_atom, int task)           a task finished after end-of-stream
///            (task_fail_atom, int task, std::string op, int instance, std::string message)
///            (task_link_atom, int task, int peer, std::string reason)   the link between
///                                                 two tasks on different nodes dropped
///            (host_ready_atom, index, node, address), (host_exited_atom, index, why)
///            (stop_atom)                          tells every source task to end its stream
///            (cancel_atom)                        kills every task
///            (job_pause_atom), (job_resume_atom)  sources pause and resume
///            (job_status_atom) -> JobReport       counters gathered from every host
///            (loop_ready_atom, int task)          a task of a feedback loop: its inputs
///                                                 from outside the loop have all ended
///            (loop_counts_atom, int task, uint64_t wave, uint64_t sent, uint64_t received)
///                                                 its answer to a termination wave: the
///                                                 messages it sent and consumed in the loop
///            down_msg                             a task, service instance, node or task
///                                                 host ended
///   self     (host_timeout_atom, index) a task host did not report in time;
///            (restart_service_atom, index) a service instance that died is due again;
///            (host_lost_atom, index) a task host's link is gone;
///            (loop_wave_atom, int loop) the next termination wave of a loop is due
///   sends    launch, peers, spawn_services and spawn_tasks to nodes; services_up to the
///            JobManager (before any task starts); job_running to the listener; wire, start, stop,
///            pause, resume, loop_probe and loop_end to tasks; (job_end_atom, JobReport) to the
///            listener and the JobManager
/// Listener (one per submitted job, in the submitting program): `ListenerHandle`
/// Service instances and the call router: services.hpp
/// Task (one per task instance: a chain of fused operators): `TaskHandle`

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/errors.hpp>
#include <sage/actors/job_plan.hpp>
#include <sage/actors/job_report.hpp>
#include <sage/actors/peer_bytes.hpp>
#include <sage/actors/services.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/detail/log.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/detail/time.hpp>

namespace sage::detail {
/// A marker as it crosses a node: its kind as one byte (a kind a peer made up
/// is refused by the receiving task, which fails the job saying so) and its value.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Marker& x) {
  auto kind = static_cast<uint8_t>(x.kind);
  auto load = caf::meta::load_callback([&]() -> caf::error {
    x.kind = static_cast<Marker::Kind>(kind);
    return caf::none;
  });
  return f(caf::meta::type_name("sage.marker"), kind, x.value, load);
}
}  // namespace sage::detail

namespace sage::actors {

using JobSpecPtr = std::shared_ptr<const detail::JobSpec>;

// -- message tags: between actors ------------------------------------------------

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using task_done_atom = caf::atom_constant<caf::atom("task_done")>;
using task_fail_atom = caf::atom_constant<caf::atom("task_fail")>;
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using marker_atom = caf::atom_constant<caf::atom("marker")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
using add_node_atom = caf::atom_constant<caf::atom("add_node")>;
using spawn_tasks_atom = caf::atom_constant<caf::atom("spawn_task")>;
using register_node_atom = caf::atom_constant<caf::atom("reg_node")>;
using cluster_status_atom = caf::atom_constant<caf::atom("cl_status")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using has_program_atom = caf::atom_constant<caf::atom("has_prog")>;
using put_program_atom = caf::atom_constant<caf::atom("put_prog")>;
using get_program_atom = caf::atom_constant<caf::atom("get_prog")>;
using launch_atom = caf::atom_constant<caf::atom("launch")>;
using host_ready_atom = caf::atom_constant<caf::atom("host_ready")>;
using host_exited_atom = caf::atom_constant<caf::atom("host_exit")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using job_end_atom = caf::atom_constant<caf::atom("job_end")>;
using job_status_atom = caf::atom_constant<caf::atom("job_stat")>;
using job_list_atom = caf::atom_constant<caf::atom("job_list")>;
using job_pause_atom = caf::atom_constant<caf::atom("job_pause")>;
using job_resume_atom = caf::atom_constant<caf::atom("job_resume")>;
using job_delete_atom = caf::atom_constant<caf::atom("job_delete")>;
using job_logs_atom = caf::atom_constant<caf::atom("job_logs")>;
using counters_atom = caf::atom_constant<caf::atom("counters")>;
using replay_atom = caf::atom_constant<caf::atom("replay")>;
using task_link_atom = caf::atom_constant<caf::atom("task_link")>;
using replay_records_atom = caf::atom_constant<caf::atom("replay_rec")>;
using loop_ready_atom = caf::atom_constant<caf::atom("loop_ready")>;
using loop_probe_atom = caf::atom_constant<caf::atom("loop_probe")>;
using loop_counts_atom = caf::atom_constant<caf::atom("loop_count")>;
using loop_end_atom = caf::atom_constant<caf::atom("loop_end")>;
using spawn_services_atom = caf::atom_constant<caf::atom("spawn_svc")>;
using services_up_atom = caf::atom_constant<caf::atom("svc_up")>;
using job_running_atom = caf::atom_constant<caf::atom("job_runs")>;

// -- message tags: an actor to itself (never accepted from a peer) ---------------------

using continue_atom = caf::atom_constant<caf::atom("continue")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using host_timeout_atom = caf::atom_constant<caf::atom("host_tmo")>;
using host_lost_atom = caf::atom_constant<caf::atom("host_lost")>;
using reap_atom = caf::atom_constant<caf::atom("reap")>;
using orphan_atom = caf::atom_constant<caf::atom("orphan")>;
using loop_wave_atom = caf::atom_constant<caf::atom("loop_wave")>;
using restart_service_atom = caf::atom_constant<caf::atom("svc_again")>;
using async_done_atom = caf::atom_constant<caf::atom("async_done")>;

// -- the typed actors ----------------------------------------------------------------

struct TaskWiring;
struct BatchMessage;

/// A task instance (task_actor.cpp). Its Dispatcher wires it (and waits for the
/// answer before starting any task), starts, stops, pauses and resumes it; its
/// upstream tasks send it batches and markers (watermarks, idleness,
/// end-of-stream: in order with the batches) by input slot, its downstream
/// tasks credit by output slot. The last four it sends itself: the next source
/// step, the buffer.timeout flush, a held-back operator's wake, the tick
/// at which an operator wants time advanced (periodic watermarks, timers),
/// and `async_done`: an asynchronous call of a `map_async` completed.
/// A task of a feedback loop also answers its Dispatcher's termination waves
/// (`loop_probe`, with the wave's number: it ships its partial batches and
/// replies `loop_counts`), and a loop's future hears `loop_end` when nothing
/// is left in the loop: its feedback inputs have ended (docs/streams.md).
using TaskHandle =
    caf::typed_actor<caf::reacts_to<wire_atom, TaskWiring>, caf::reacts_to<start_atom>,
                     caf::reacts_to<batch_atom, uint32_t, BatchMessage>,
                     caf::reacts_to<marker_atom, uint32_t, detail::Marker>,
                     caf::reacts_to<credit_atom, uint32_t, int32_t>, caf::reacts_to<stop_atom>,
                     caf::reacts_to<job_pause_atom>, caf::reacts_to<job_resume_atom>,
                     caf::reacts_to<loop_probe_atom, uint64_t>, caf::reacts_to<loop_end_atom>,
                     caf::reacts_to<continue_atom>, caf::reacts_to<flush_atom>,
                     caf::reacts_to<resume_atom>, caf::reacts_to<tick_atom>,
                     caf::reacts_to<async_done_atom>>;

// -- payloads ----------------------------------------------------------------------

/// The addresses ("host:port") of the other task hosts of a job, to connect to
/// directly: data between workers then does not travel through the head.
struct PeerList {
  std::vector<std::string> addresses;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PeerList& x) {
  return f(caf::meta::type_name("sage.peer_list"), x.addresses);
}

/// The peers of a task's channels, by slot: where each output slot sends (and
/// which input slot it is there), and whom each input slot returns credit to.
struct TaskWiring {
  std::vector<TaskHandle> outputs;
  std::vector<uint32_t> output_peer_slots;
  std::vector<TaskHandle> inputs;
  std::vector<uint32_t> input_peer_slots;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TaskWiring& x) {
  return f(caf::meta::type_name("sage.task_wiring"), x.outputs, x.output_peer_slots, x.inputs,
           x.input_peer_slots);
}

/// A batch inside a CAF message. Between actors of one process only the
/// pointer travels. When CAF serializes the message for another node, the
/// batch is encoded as one Cap'n Proto `RecordBatch` (schemas/batch.capnp) and
/// arrives as an `EncodedBatch`, decoded by the receiving task's input port:
/// the sending code does not need to know where the receiver lives.
struct BatchMessage {
  detail::BatchPtr batch;
};

/// The largest encoded batch a node accepts: one record of the largest
/// `record.max_bytes` (1 GiB), with room for its framing. Batches are cut at
/// `batch.max_bytes` (1 MiB by default), so only a single big record comes near;
/// and no more is ever allocated than the peer actually sent.
constexpr size_t max_batch_bytes = (size_t{1} << 30) + (size_t{1} << 20);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, BatchMessage& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    // A record type without a codec is refused when the job is submitted. Should
    // one get here all the same, the batch travels as an empty frame, which the
    // receiver reports as a job failure.
    return write_peer_bytes(f, "sage.batch", [&] { return x.batch->encode(); });
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::vector<uint8_t> frame;
    if (auto err = read_peer_bytes(f, max_batch_bytes, "a batch", frame)) return err;
    x.batch = std::make_shared<detail::EncodedBatch>(std::move(frame));
    return caf::none;
  } else {  // printing a message (logs): the record count only
    uint64_t records = x.batch ? x.batch->size() : 0;
    return f(caf::meta::type_name("sage.batch"), records);
  }
}

// -- the listener ----------------------------------------------------------------------

/// A job's listener, in the submitting program: its Dispatcher reports that
/// the job runs (its services answer, its tasks have started: `submit()`
/// returns then) and the job's end (state, error and final counters).
using ListenerHandle =
    caf::typed_actor<caf::reacts_to<job_running_atom>, caf::reacts_to<job_end_atom, JobReport>>;

/// Registers the messages that may cross nodes; every node's actor system needs it.
inline void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<BatchMessage>("sage.batch");
  cfg.add_message_type<detail::Marker>("sage.marker");
  cfg.add_message_type<TaskWiring>("sage.TaskWiring");
  cfg.add_message_type<std::vector<int32_t>>("sage.task_ids");  // spawn_tasks
  cfg.add_message_type<std::vector<TaskHandle>>("sage.tasks");  // spawn_tasks' answer
  cfg.add_message_type<ListenerHandle>("sage.listener");
  cfg.add_message_type<NodeInfo>("sage.node_info");
  cfg.add_message_type<ClusterStatus>("sage.cluster_status");
  cfg.add_message_type<JobPlan>("sage.job_plan");
  cfg.add_message_type<ProgramLaunch>("sage.program_launch");
  cfg.add_message_type<PeerList>("sage.peer_list");
  cfg.add_message_type<JobReport>("sage.job_report");
  cfg.add_message_type<std::vector<JobReport>>("sage.job_reports");
  cfg.add_message_type<std::vector<uint64_t>>("sage.counters");
  cfg.add_message_type<LogChunk>("sage.log_chunk");
  cfg.add_message_type<ReplayedJob>("sage.replayed_job");
  cfg.add_message_type<RecordChunk>("sage.record_chunk");
  register_service_message_types(cfg);
  // std::vector<caf::actor>, std::string, atoms and integers are CAF's own.
  register_error_category(cfg);
}

/// The default handler of every SAGE actor: a message it does not know (from a
/// peer of another version, or bytes that happened to parse) is logged, not
/// printed to stdout as CAF would, and dropped; a request gets an error back.
inline caf::result<caf::message> drop_unexpected(caf::scheduled_actor* self, caf::message_view& x) {
  auto text = caf::to_string(x.content());
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  detail::log("runtime").warn("{} dropped a message it does not know: {}", self->name(), text);
  return caf::sec::unexpected_message;
}

/// How a node gets a job's tasks running.
struct NodeSetup {
  /// A cluster daemon (head or worker) starts a task host per job, from the
  /// shipped program. Any other node (an embedded runtime, a task host, a
  /// submitting program) spawns tasks of the jobs in its process's registry.
  bool hosts_programs = false;
  std::string state_dir;  ///< daemons: where programs and task-host logs go
  std::string head_host;  ///< daemons: where task hosts report
  uint16_t head_port = 0;
  TlsFiles tls;
  std::string bind = "127.0.0.1";     ///< daemons: where task hosts listen for peers
  NodeRole role = NodeRole::unknown;  ///< daemons: head or worker (names its job logs)
};

/// A node of a job's deployment, as its Dispatcher sees it.
struct DeployTarget {
  caf::actor node;
  NodeInfo info;
  bool hosts_programs = false;
};

/// Spawns a JobManager; `local_node` is this process's node, described by
/// `info` (a head registers its node later, as workers do). `state_dir` (a
/// head's) is where shipped programs are stored, up to `max_program_bytes` each.
caf::actor spawn_job_manager(caf::actor_system& system, caf::actor local_node, NodeInfo info,
                             std::string state_dir = {},
                             uint64_t max_program_bytes = uint64_t{1} << 30);
/// Spawns a job's Dispatcher, monitored by `parent` (the JobManager): it runs
/// the tasks of `plan` on `nodes` (task t on `nodes[node_of_task[t]]`, service
/// instance s on `nodes[node_of_service[s]]`) and reports the job's end to `listener`.
caf::actor spawn_dispatcher(caf::event_based_actor* parent, JobPlan plan,
                            std::vector<DeployTarget> nodes, std::vector<size_t> node_of_task,
                            std::vector<size_t> node_of_service, ListenerHandle listener);
/// Spawns a node actor in `system`.
caf::actor spawn_node(caf::actor_system& system, NodeSetup setup = {});
/// Spawns the task actor of task `task_id` in `parent`'s actor system.
TaskHandle spawn_task(caf::event_based_actor* parent, JobSpecPtr job, int task_id,
                      caf::actor dispatcher);

// -- the listener ----------------------------------------------------------------------

/// A job's listener, in the submitting program: finishes the job's handle when
/// the job ends, then quits. It keeps the job (its graph and functions) alive
/// until then, and fails it if `job_manager` (a cluster's head) is lost first.
ListenerHandle spawn_listener(caf::actor_system& system, JobSpecPtr job,
                              caf::actor job_manager = {});

}  // namespace sage::actors
