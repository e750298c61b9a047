#include <sage/detail/task_body.hpp>

#include <sage/detail/graph.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/detail/key_groups.hpp>
#include <sage/detail/typed_node.hpp>

namespace sage::detail {

TaskBody::TaskBody(const JobSpec& job, int task_id, BatchTransport& transport) {
  const auto& plan = job.plan;
  const auto& task = plan.tasks.at(task_id);
  const auto& chain = plan.chains.at(task.chain);
  const auto& graph = job.graph;
  name_ = chain.name + " (" + std::to_string(task.instance + 1) + "/" +
          std::to_string(task.parallelism) + ")";

  // Operators, in chain order; `position` maps a node id to its operator.
  std::vector<int> position(graph.nodes.size(), -1);
  for (int n : chain.nodes) {
    const auto& node = *graph.nodes[n];
    std::unique_ptr<OperatorInstance> inst;
    try {
      inst = node.instantiate();
    } catch (const std::exception& e) {
      throw OperatorFailure(node.name, task.instance,
                            std::string("construction failed: ") + e.what());
    } catch (...) {
      throw OperatorFailure(node.name, task.instance, "construction failed: unknown exception");
    }
    ContextAccess::set_identity(inst->context(), node.name, task.instance, task.parallelism, job.id,
                                job.config);
    position[n] = static_cast<int>(operators_.size());
    counters_.push_back(&job.handle->counters(n, task.instance));
    operators_.push_back(std::move(inst));
  }
  source_ = dynamic_cast<SourceInstance*>(operators_.front().get());
  for (auto& op : operators_)
    if (auto* hold = dynamic_cast<HoldBack*>(op.get())) holds_.push_back(hold);

  // Chained edges inside the task.
  for (int n : chain.nodes)
    for (int e : graph.nodes[n]->out_edges)
      if (plan.chained[e])
        graph.nodes[n]->chain(*operators_[position[n]], *operators_[position[graph.edges[e].to]]);

  // Writers of the edges that leave the task.
  for (const auto& out : task.outputs) {
    const auto& edge = graph.edges[out.edge];
    EdgeRouting routing = edge.routing;
    routing.kind = plan.routing[out.edge];
    WriterSetup setup;
    setup.transport = &transport;
    setup.channels.assign(out.slots.begin(), out.slots.end());
    setup.batch_size = job.batch_size;
    setup.batch_bytes = job.batch_bytes;
    setup.record_max_bytes = job.record_max_bytes;
    setup.instance = task.instance;
    setup.max_parallelism = plan.max_parallelism;
    writers_.push_back(graph.nodes[edge.from]->make_writer(*operators_[position[edge.from]],
                                                           routing, std::move(setup)));
  }

  // Input ports: one per input edge, shared by that edge's channels.
  std::vector<InputPortBase*> port_of_edge(graph.edges.size(), nullptr);
  for (const auto& in : task.inputs) {
    if (port_of_edge[in.edge] == nullptr) {
      const auto& edge = graph.edges[in.edge];
      auto& target = *operators_[position[edge.to]];
      owned_ports_.push_back(graph.nodes[edge.to]->make_input_port(target, edge.routing));
      port_of_edge[in.edge] = owned_ports_.back().get();
      // An operator on a keyed stream has keyed state, of the key groups it owns
      // (all of them when the stream is not partitioned by key).
      if (edge.routing.key_extractor) {
        const int max_p = plan.max_parallelism;
        const auto groups = plan.routing[in.edge] == Routing::hash
                                ? key_groups_of(task.instance, max_p, task.parallelism)
                                : KeyGroupRange{0, max_p - 1};
        ContextAccess::set_keyed_state(
            target.context(), edge.routing.key_extractor->make_state_backend(max_p, groups));
      }
    }
    ports_.push_back(port_of_edge[in.edge]);
  }
}

TaskBody::~TaskBody() = default;

void TaskBody::open() {
  for (auto it = operators_.rbegin(); it != operators_.rend(); ++it) (*it)->open();
}

SourceStep TaskBody::run_source(StepBudget& budget) { return source_->step(budget); }

void TaskBody::consume(uint32_t in_slot, BatchBase& batch) { ports_.at(in_slot)->consume(batch); }

void TaskBody::close() {
  for (auto& op : operators_) op->close();
}

void TaskBody::flush() {
  for (auto& w : writers_) w->flush();
}

bool TaskBody::has_partial() const {
  for (const auto& w : writers_)
    if (w->has_partial()) return true;
  return false;
}

bool TaskBody::held_back() const {
  for (const auto* h : holds_)
    if (h->holding()) return true;
  return false;
}

void TaskBody::wake_when_ready(const std::function<void()>& wake) {
  // Woken by the first operator that lets go; the task checks the others again.
  auto once = std::make_shared<std::atomic<bool>>(false);
  for (auto* h : holds_)
    h->wake_when_ready([once, wake] {
      if (!once->exchange(true)) wake();
    });
}

void TaskBody::publish_blocked(uint64_t nanoseconds) {
  if (!counters_.empty())
    counters_.front()->blocked_ns.store(nanoseconds, std::memory_order_relaxed);
}

void TaskBody::publish_counters() {
  for (size_t i = 0; i < operators_.size(); ++i) {
    counters_[i]->in.store(operators_[i]->records_in, std::memory_order_relaxed);
    counters_[i]->out.store(operators_[i]->records_out, std::memory_order_relaxed);
  }
}

}  // namespace sage::detail
