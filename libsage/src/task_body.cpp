#include <sage/detail/task_body.hpp>

#include <sage/detail/graph.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/detail/key_groups.hpp>
#include <sage/detail/typed_node.hpp>

#include <algorithm>

namespace sage::detail {

TaskBody::TaskBody(const JobSpec& job, int task_id, BatchTransport& transport)
    : transport_(&transport) {
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
    ContextAccess::set_task_time(inst->context(), &time_);
    ContextAccess::set_services(inst->context(), job.services);
    position[n] = static_cast<int>(operators_.size());
    counters_.push_back(&job.handle->counters(n, task.instance));
    operators_.push_back(std::move(inst));
  }
  source_ = dynamic_cast<SourceInstance*>(operators_.front().get());
  for (auto& op : operators_) {
    if (auto* hold = dynamic_cast<HoldBack*>(op.get())) holds_.push_back(hold);
    if (auto* async = dynamic_cast<AsyncOperator*>(op.get())) asyncs_.push_back(async);
  }

  // Chained edges inside the task (a side output's consumer knows its type).
  chain_upstream_.assign(operators_.size(), -1);
  for (int n : chain.nodes)
    for (int e : graph.nodes[n]->out_edges)
      if (plan.chained[e]) {
        const auto& edge = graph.edges[e];
        auto& from = *operators_[position[n]];
        auto& to = *operators_[position[edge.to]];
        if (edge.routing.side_output.empty())
          graph.nodes[n]->chain(from, to);
        else
          graph.nodes[edge.to]->chain_side_output(from, edge.routing.side_output, to);
        chain_upstream_[position[edge.to]] = position[n];
      }
  for (size_t i = 0; i < chain_upstream_.size(); ++i)
    if (chain_upstream_[i] >= static_cast<int>(i))
      throw std::logic_error("a chain whose operators are not in order");
  op_status_.assign(operators_.size(), WatermarkStatus{});

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
    setup.timestamped = graph.nodes[edge.from]->timestamped;
    setup.time = &time_;
    auto& from = *operators_[position[edge.from]];
    writers_.push_back(
        edge.routing.side_output.empty()
            ? graph.nodes[edge.from]->make_writer(from, routing, std::move(setup))
            : graph.nodes[edge.to]->make_side_output_writer(from, edge, routing, std::move(setup)));
    writer_time_.push_back(WriterTime{position[edge.from], WatermarkStatus{}});
  }

  // Input ports: one per input edge, shared by that edge's channels.
  std::vector<InputPortBase*> port_of_edge(graph.edges.size(), nullptr);
  std::vector<bool> has_keyed_state(operators_.size(), false);
  for (const auto& in : task.inputs) {
    if (port_of_edge[in.edge] == nullptr) {
      const auto& edge = graph.edges[in.edge];
      auto& target = *operators_[position[edge.to]];
      owned_ports_.push_back(graph.nodes[edge.to]->make_input_port(target, edge));
      port_of_edge[in.edge] = owned_ports_.back().get();
      // An operator on a keyed stream has keyed state, of the key groups it owns
      // (all of them when the stream is not partitioned by key). The inputs of
      // a keyed connect share it: their keys are of one type.
      if (edge.routing.key_extractor && !has_keyed_state[position[edge.to]]) {
        has_keyed_state[position[edge.to]] = true;
        const int max_p = plan.max_parallelism;
        const auto groups = plan.routing[in.edge] == Routing::hash
                                ? key_groups_of(task.instance, max_p, task.parallelism)
                                : KeyGroupRange{0, max_p - 1};
        ContextAccess::set_keyed_state(
            target.context(), edge.routing.key_extractor->make_state_backend(max_p, groups));
      }
    }
    ports_.push_back(port_of_edge[in.edge]);
    input_channels_.push_back(in.channel);
  }
  if (!is_source()) {
    valve_ = std::make_unique<WatermarkValve>(ports_.size());
    // Event time in a loop follows the inputs from outside it: what comes back
    // over a feedback edge never holds the watermark back.
    for (size_t slot = 0; slot < input_channels_.size(); ++slot)
      if (plan.channels[input_channels_[slot]].feedback) valve_->on_end(slot);
  }
  time_.now_ms = TaskTime::wall_clock_ms();
}

TaskBody::~TaskBody() = default;

void TaskBody::open() {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  for (auto it = operators_.rbegin(); it != operators_.rend(); ++it) (*it)->open();
  // A future's task, fed by feedback edges only, holds nobody back downstream.
  if (valve_)
    if (const WatermarkStatus now{valve_->current(), valve_->idle()}; now != input_status_) {
      input_status_ = now;
      advance_time();
    }
}

SourceStep TaskBody::run_source(StepBudget& budget) {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  time_.now_ms = TaskTime::wall_clock_ms();
  return source_->step(budget);
}

void TaskBody::consume(uint32_t in_slot, BatchBase& batch) {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  time_.now_ms = TaskTime::wall_clock_ms();
  ports_.at(in_slot)->consume(batch);
}

void TaskBody::on_marker(uint32_t in_slot, const Marker& marker) {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  if (!valve_ || in_slot >= ports_.size())
    throw std::logic_error("a marker on input slot " + std::to_string(in_slot) +
                           " of a task with " + std::to_string(ports_.size()));
  switch (marker.kind) {
    case Marker::Kind::watermark:
      valve_->on_watermark(in_slot, marker.value);
      break;
    case Marker::Kind::idle:
      valve_->on_idle(in_slot);
      break;
    case Marker::Kind::active:
      valve_->on_active(in_slot);
      break;
    case Marker::Kind::end_of_stream:
      valve_->on_end(in_slot);
      break;
  }
  const WatermarkStatus now{valve_->current(), valve_->idle()};
  if (now != input_status_) {
    input_status_ = now;
    advance_time();
  }
}

void TaskBody::advance_time() {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  time_.now_ms = TaskTime::wall_clock_ms();
  time_.status_changed = false;
  for (size_t i = 0; i < operators_.size(); ++i) {
    const int up = chain_upstream_[i];
    const WatermarkStatus in = up < 0 ? input_status_ : op_status_[up];
    ContextAccess::set_watermark(operators_[i]->context(), in.watermark);
    op_status_[i] = operators_[i]->advance_time(in);
  }
  // Each writer's channels learn their operator's new status, after the
  // records that came before it.
  for (size_t w = 0; w < writers_.size(); ++w) {
    auto& wt = writer_time_[w];
    const WatermarkStatus now = op_status_[wt.op];
    if (now == wt.sent) continue;
    writers_[w]->flush();
    for (uint32_t slot : writers_[w]->channels()) {
      if (now.watermark > wt.sent.watermark)
        transport_->send_marker(slot, Marker{Marker::Kind::watermark, now.watermark});
      if (now.idle != wt.sent.idle)
        transport_->send_marker(slot,
                                Marker{now.idle ? Marker::Kind::idle : Marker::Kind::active, 0});
    }
    wt.sent.watermark = std::max(wt.sent.watermark, now.watermark);
    wt.sent.idle = now.idle;
  }
}

void TaskBody::end_time() {
  if (ended_) return;
  ended_ = true;
  input_status_ = WatermarkStatus{max_watermark, false};
  advance_time();
}

std::optional<int64_t> TaskBody::next_wakeup() const {
  std::optional<int64_t> soonest;
  if (ended_) return soonest;
  for (const auto& op : operators_)
    if (auto t = op->next_wakeup(); t && (!soonest || *t < *soonest)) soonest = t;
  return soonest;
}

bool TaskBody::take_status_change() {
  const bool changed = time_.status_changed;
  time_.status_changed = false;
  return changed;
}

void TaskBody::set_async_waker(const std::function<void()>& wake) {
  for (auto* a : asyncs_) a->set_waker(wake);
}

void TaskBody::deliver_async() {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  time_.now_ms = TaskTime::wall_clock_ms();
  for (auto* a : asyncs_) a->deliver();
  advance_time();  // a result emitted may release the watermark held for it
}

bool TaskBody::async_idle() const {
  return std::all_of(asyncs_.begin(), asyncs_.end(),
                     [](const AsyncOperator* a) { return a->idle(); });
}

void TaskBody::close() {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
  for (auto& op : operators_) op->close();
}

void TaskBody::flush() {
  const ContextScope scope(&operators_.front()->context());  // sage::call_service
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
  // The channel that holds the task's watermark back, if one does (+1; 0: none).
  uint64_t holding = 0;
  if (valve_)
    if (auto slot = valve_->holding_back(); slot && input_status_.watermark != max_watermark)
      holding = static_cast<uint64_t>(input_channels_.at(*slot)) + 1;
  for (size_t i = 0; i < operators_.size(); ++i) {
    auto& c = *counters_[i];
    const auto& op = *operators_[i];
    c.in.store(op.records_in, std::memory_order_relaxed);
    c.out.store(op.records_out, std::memory_order_relaxed);
    c.late_dropped.store(op.records_late_dropped, std::memory_order_relaxed);
    c.late_replies.store(op.late_replies, std::memory_order_relaxed);
    c.watermark.store(operators_[i]->context().current_watermark(), std::memory_order_relaxed);
    c.holding_channel.store(holding, std::memory_order_relaxed);
  }
}

}  // namespace sage::detail
