#pragma once
/// @file graph.hpp
/// The logical graph that the DataStream calls record: one node per operator,
/// one edge per "stream feeds operator". Nodes are typed underneath (see
/// operators.hpp) but the graph, the plan compiler and the runtime see them
/// through the untyped `Node` interface.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <sage/detail/record_flow.hpp>
#include <sage/detail/time.hpp>

namespace sage {

/// How a keyed or repartitioned stream distributes records over the instances
/// of the next operator.
enum class Partition {
  hash,         ///< by the hash of the key: one key, one instance
  broadcast,    ///< every record to every instance
  round_robin,  ///< evenly, in turn
};

/// What an operator asks of the machine it runs on (used by cluster placement):
/// cpus, memory and gpus that the node must have free, and labels it must carry
/// (`sage cluster start --worker --label zone=a`).
struct Resources {
  double cpus = 0;
  int64_t memory_mb = 0;
  int gpus = 0;
  std::map<std::string, std::string> labels;
};

}  // namespace sage

namespace sage::detail {

class OperatorInstance;
class ChannelWriterBase;
class InputPortBase;
class BatchTransport;
class ServiceObject;

/// How an edge routes records.
enum class Routing : uint8_t {
  unset,        ///< forward when parallelism is equal, else round-robin (Flink's default)
  forward,      ///< instance i to instance i
  hash,         ///< by key
  broadcast,    ///< to all
  round_robin,  ///< in turn
  custom,       ///< by a user `Partitioner`
};

const char* to_string(Routing r);

/// A user's `Partitioner` for records of some type, as an edge holds it; the
/// edge's typed writer casts it back to its `PartitionerFactory<T>`.
class PartitionerFactoryBase {
 public:
  virtual ~PartitionerFactoryBase() = default;
};

/// The typed parts of an edge's routing, type-erased; only the typed writer of
/// the edge's upstream node casts them back.
struct EdgeRouting {
  Routing kind = Routing::unset;
  std::shared_ptr<const KeySelectorBase> key_selector;  ///< a `KeySelector<T>` (hash)
  std::shared_ptr<const PartitionerFactoryBase>
      partitioner;                                        ///< a `PartitionerFactory<T>` (custom)
  std::shared_ptr<const KeyExtractorBase> key_extractor;  ///< set on keyed streams
  /// The edge leaves its upstream through this side output (empty: the main output).
  std::string side_output;
};

struct Edge {
  int from = -1;
  int to = -1;
  EdgeRouting routing;
  /// Which input of `to` the edge feeds (0 unless `to` has several: `connect`).
  int input = 0;
  /// It closes a feedback loop (`fill_future`): it runs back to a future, an
  /// operator added earlier, and never waits for credit (docs/streams.md).
  bool feedback = false;
};

enum class NodeKind : uint8_t { source, transform, sink };

/// Whether a node may be fused with its neighbours into one task (as Flink's
/// `ChainingStrategy`). A node is chained to its upstream only over a forward
/// edge of equal parallelism, and only if `chaining` is on in the config.
enum class Chaining : uint8_t {
  always,  ///< joins its upstream's chain when it can (the default)
  head,    ///< starts a chain of its own; its downstream may join it (sources)
  never,   ///< a task of its own, joined by nothing
};

/// What a task writer needs to know: where its channels go and how big a batch is.
struct WriterSetup {
  BatchTransport* transport = nullptr;
  std::vector<uint32_t> channels;  ///< the task's output slots, one per target instance
  size_t batch_size = 4096;
  size_t batch_bytes = size_t{1} << 20;         ///< a batch is cut at this footprint too
  size_t record_max_bytes = size_t{256} << 20;  ///< a bigger record fails the job
  int instance = 0;           ///< this task's instance index (round-robin starts here)
  int max_parallelism = 128;  ///< key groups of a hash edge (key_groups.hpp)
  /// The stream has event time: each record travels with the task's current
  /// record timestamp (`time->record_timestamp`).
  bool timestamped = false;
  const TaskTime* time = nullptr;
};

/// One operator of the logical graph.
class Node {
 public:
  Node(NodeKind kind, std::string kind_name)
      : kind(kind),
        kind_name(std::move(kind_name)),
        chaining(kind == NodeKind::source ? Chaining::head : Chaining::always),
        num_inputs(kind == NodeKind::source ? 0 : 1) {}
  virtual ~Node() = default;

  int id = -1;
  NodeKind kind;
  std::string kind_name;  ///< "map", "filter", ... (the default name; never tested for)
  Chaining chaining;
  /// Its instances run in the submitting program, wherever the rest of the job
  /// is placed: `collect()`, whose buffer the program reads.
  bool runs_at_submitter = false;
  /// How many distinct inputs the operator reads (0 for a source, 1 for a map;
  /// each input may be fed by several edges).
  int num_inputs;
  /// Its output records carry event time (it assigns timestamps, or its input has them).
  bool timestamped = false;
  /// It gives records timestamps of its own (`assign_timestamps`, an
  /// event-time window or join), which a pipeline service may not have: its
  /// records' event time is their request's number.
  bool sets_timestamps = false;
  /// The pipeline service it is part of (empty: none): such tasks serve
  /// requests while the rest of the job runs, and stop when it is done.
  std::string serves;
  /// Unless set explicitly, its parallelism is its input's (`assign_timestamps`).
  bool parallelism_of_input = false;
  /// A future (`from_future`): a pass-through fed only by `fill_future`'s
  /// feedback edge; its name is the future's.
  bool future = false;
  std::string name;     ///< unique in the job
  int parallelism = 0;  ///< 0: the config's default
  Resources resources;
  std::vector<int> in_edges;
  std::vector<int> out_edges;
  /// What the operator holds of its own (a `from_batch` source: its items), as a
  /// short text with a digest; empty if nothing. A task host builds the job
  /// again and must find the same (job_plan.cpp fingerprints it).
  std::function<std::string()> describe_contents;

  /// Whether this node's records can cross a node (their type has a codec).
  [[nodiscard]] virtual bool output_has_codec() const = 0;
  /// The name of this node's record type, for error messages.
  [[nodiscard]] virtual std::string output_type_name() const = 0;
  /// A copy of this node (its settings, edges and factory).
  [[nodiscard]] virtual std::shared_ptr<Node> clone() const = 0;
  /// A new instance of the operator (the user's function copied or constructed).
  [[nodiscard]] virtual std::unique_ptr<OperatorInstance> instantiate() const = 0;
  /// Connects `from` (an instance of this node) to a chained instance `to`.
  virtual void chain(OperatorInstance& from, OperatorInstance& to) const = 0;
  /// A writer that partitions this node's output over network channels.
  [[nodiscard]] virtual std::unique_ptr<ChannelWriterBase> make_writer(OperatorInstance& from,
                                                                       const EdgeRouting& routing,
                                                                       WriterSetup setup) const = 0;
  /// The same for an edge that leaves `from` through its side output `tag`, of
  /// this node's input type (only the consumer of a side output knows its type).
  virtual void chain_side_output(OperatorInstance& from, const std::string& tag,
                                 OperatorInstance& to) const = 0;
  /// A writer for `edge`, which leaves `from` through a side output into this
  /// node: it writes records of this node's input `edge.input`.
  [[nodiscard]] virtual std::unique_ptr<ChannelWriterBase> make_side_output_writer(
      OperatorInstance& from, const Edge& edge, EdgeRouting routing, WriterSetup setup) const = 0;
  /// Whether the records of this node's input `input` have a codec (they cross
  /// a node on a side output edge).
  [[nodiscard]] virtual bool input_has_codec(int input) const = 0;
  /// A port that feeds batches arriving on `edge` into `to` (an instance of
  /// this node), as records of its input `edge.input`.
  [[nodiscard]] virtual std::unique_ptr<InputPortBase> make_input_port(OperatorInstance& to,
                                                                       const Edge& edge) const = 0;
};

/// A service registered with the job (`register_service`): its instances are
/// placed like tasks, each a `ServiceObject` made by `make`.
struct ServiceDecl {
  std::string name;  ///< unique among the runtime's running services
  int parallelism = 1;
  Resources resources;
  std::function<std::unique_ptr<ServiceObject>()> make;
};

/// The logical graph of one environment.
struct Graph {
  std::vector<std::shared_ptr<Node>> nodes;
  std::vector<Edge> edges;
  std::vector<ServiceDecl> services;

  /// Adds a node, gives it an id and a unique name, and returns the id.
  int add_node(std::shared_ptr<Node> node);
  /// Adds an edge from `from` to input `input` of `to`.
  void add_edge(int from, int to, EdgeRouting routing, int input = 0);
  /// Adds the feedback edge from `from` to the future `future` (`fill_future`);
  /// a future is filled once (a `GraphError` naming it otherwise).
  void add_feedback_edge(int from, int future, EdgeRouting routing);
  /// Renames a node; names stay unique (a clash is a `GraphError`).
  void rename(int node, const std::string& name);
  /// A deep copy: what a submitted job runs, unaffected by later calls on the
  /// environment's streams.
  [[nodiscard]] Graph snapshot() const;
};

}  // namespace sage::detail
