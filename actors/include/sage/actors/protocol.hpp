#pragma once
/// @file protocol.hpp
/// Every message the runtime's actors exchange, in one place. Each actor's own
/// file repeats, at its top, the subset it accepts and sends.
///
/// JobManager (one per runtime: embedded in a program, or a cluster's head)
///   accepts  (submit_atom, JobSpecPtr)            deploy a job: spawns its Dispatcher
///            (stop_atom, job_id)                  graceful stop, to the job's Dispatcher
///            (cancel_atom, job_id)                immediate stop, to the job's Dispatcher
///            (add_node_atom, node)                a node tasks may be placed on
///            (register_node_atom, NodeInfo, node) -> uint32_t   a worker joins
///            (cluster_status_atom) -> ClusterStatus   nodes (alive or lost) and jobs
///            (shutdown_atom, bool all)            ends the runtime (and every worker)
///            down_msg                             a Dispatcher or a node ended
/// Node (one per actor system: the process's, or a worker's)
///   accepts  (spawn_tasks_atom, job_id, std::vector<int32_t> tasks, dispatcher)
///              -> std::vector<caf::actor>         spawns those tasks of the job here
///            (shutdown_atom)                      ends the node (a worker then exits)
/// Dispatcher (one per job)
///   accepts  (task_done_atom, int task)           a task finished after end-of-stream
///            (task_fail_atom, int task, std::string op, int instance, std::string message)
///            (stop_atom)                          tells every source task to end its stream
///            (cancel_atom)                        kills every task
///            down_msg                             a task ended (expected or not)
///   sends    spawn_tasks to nodes; (wire_atom, task_wiring), (start_atom), (stop_atom) to tasks
/// Task (one per task instance: a chain of fused operators)
///   accepts  (wire_atom, task_wiring)             its channels' peers
///            (start_atom)                         open operators, grant credit, start sources
///            (batch_atom, uint32_t in_slot, wire_batch)   records on an input channel
///            (eos_atom, uint32_t in_slot)         end-of-stream on an input channel
///            (credit_atom, uint32_t out_slot, int32_t n)  n more batches may be sent
///            (continue_atom)                      run the next source step
///            (flush_atom)                         buffer.timeout expired: ship partial batches
///            (stop_atom)                          end the source's stream (graceful stop)
///            (resume_atom)                        an operator that held the task back let go
///   sends    batch/eos downstream, credit upstream, task_done/task_fail to the Dispatcher

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/detail/job_handle.hpp>
#include <sage/detail/record_flow.hpp>

namespace sage::actors {

using JobSpecPtr = std::shared_ptr<const detail::JobSpec>;

using submit_atom = caf::atom_constant<caf::atom("submit")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using task_done_atom = caf::atom_constant<caf::atom("task_done")>;
using task_fail_atom = caf::atom_constant<caf::atom("task_fail")>;
using wire_atom = caf::atom_constant<caf::atom("wire")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using eos_atom = caf::atom_constant<caf::atom("eos")>;
using credit_atom = caf::atom_constant<caf::atom("credit")>;
using continue_atom = caf::atom_constant<caf::atom("continue")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using add_node_atom = caf::atom_constant<caf::atom("add_node")>;
using spawn_tasks_atom = caf::atom_constant<caf::atom("spawn_task")>;
using register_node_atom = caf::atom_constant<caf::atom("reg_node")>;
using cluster_status_atom = caf::atom_constant<caf::atom("cl_status")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;

/// The peers of a task's channels, by slot: where each output slot sends (and
/// which input slot it is there), and whom each input slot returns credit to.
struct task_wiring {
  std::vector<caf::actor> outputs;
  std::vector<uint32_t> output_peer_slots;
  std::vector<caf::actor> inputs;
  std::vector<uint32_t> input_peer_slots;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_wiring& x) {
  return f(caf::meta::type_name("task_wiring"), x.outputs, x.output_peer_slots, x.inputs,
           x.input_peer_slots);
}

/// A batch inside a CAF message. Between actors of one process only the
/// pointer travels. When CAF serializes the message for another node, the
/// batch is encoded as one Cap'n Proto `RecordBatch` (schemas/batch.capnp) and
/// arrives as an `EncodedBatch`, decoded by the receiving task's input port:
/// the sending code does not need to know where the receiver lives.
struct wire_batch {
  detail::BatchPtr batch;
};

/// The largest encoded batch a node accepts (a batch of 4096 records of 64 KB each).
constexpr size_t max_batch_bytes = size_t{256} << 20;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_batch& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    // A record type without a codec is refused when the job is submitted. Should
    // one get here all the same, the batch travels as an empty frame, which the
    // receiver reports as a job failure: CAF 0.17 ignores errors of a message's
    // elements, and an exception here would take down the node's middleman.
    std::vector<uint8_t> frame;
    caf::error failure;
    try {
      frame = x.batch->encode();
    } catch (const std::exception& e) {
      frame.clear();
      failure = caf::make_error(caf::sec::invalid_argument, e.what());
    }
    if (auto err = f(caf::meta::type_name("sage.batch"), frame)) return err;
    return failure;
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    // Read the byte sequence by hand: CAF 0.17 would resize the vector to the
    // length the peer claims before checking it against the bytes it sent, so
    // one message could make this node allocate gigabytes.
    size_t size = 0;
    if (auto err = f.begin_sequence(size)) return err;
    const auto* binary = dynamic_cast<caf::binary_deserializer*>(&f);
    if (size > max_batch_bytes || (binary != nullptr && size > binary->remaining()))
      return caf::make_error(
          caf::sec::invalid_argument,
          "a batch of " + std::to_string(size) + " bytes exceeds its message or the limit");
    std::vector<uint8_t> frame(size);
    if (size > 0)
      if (auto err = f.apply_raw(size, frame.data())) return err;
    if (auto err = f.end_sequence()) return err;
    x.batch = std::make_shared<detail::EncodedBatch>(std::move(frame));
    return caf::none;
  } else {  // printing a message (logs): the record count only
    uint64_t records = x.batch ? x.batch->size() : 0;
    return f(caf::meta::type_name("sage.batch"), records);
  }
}

/// CAF's heartbeat for every actor system that talks to others: a peer that
/// crashed or froze is noticed within two seconds (the default never notices a
/// frozen one).
inline void configure_heartbeat(caf::actor_system_config& cfg) {
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(250)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(1500)});
}

/// Registers the messages that may cross nodes; every node's actor system needs it.
inline void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<wire_batch>("sage.batch");
  cfg.add_message_type<task_wiring>("sage.task_wiring");
  cfg.add_message_type<std::vector<int32_t>>("sage.task_ids");  // spawn_tasks
  cfg.add_message_type<NodeInfo>("sage.node_info");
  cfg.add_message_type<ClusterStatus>("sage.cluster_status");
  // std::vector<caf::actor>, std::string, atoms and integers are CAF's own.
}

/// The jobs this process can host tasks of, by id. The submitting process
/// registers the job it compiled; a task host registers the job it built from
/// the same program. A node spawns a job's tasks only from this registry.
void register_job(const JobSpecPtr& job);
JobSpecPtr find_job(const std::string& id);

/// Spawns a JobManager; `local_node` is this process's node, described by `info`.
caf::actor spawn_job_manager(caf::actor_system& system, caf::actor local_node, NodeInfo info);
/// Spawns a job's Dispatcher, placing tasks on `nodes`, monitored by `parent`.
caf::actor spawn_dispatcher(caf::event_based_actor* parent, JobSpecPtr job,
                            std::vector<caf::actor> nodes);
/// Spawns a node actor in `system`.
caf::actor spawn_node(caf::actor_system& system);
/// Spawns the task actor of task `task_id` in `parent`'s actor system.
caf::actor spawn_task(caf::event_based_actor* parent, JobSpecPtr job, int task_id,
                      caf::actor dispatcher);

}  // namespace sage::actors

// A job spec is handed to the embedded runtime's JobManager as a pointer and
// never leaves the process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sage::actors::JobSpecPtr)
