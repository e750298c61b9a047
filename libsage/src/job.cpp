#include <sage/detail/job_handle.hpp>

#include <algorithm>

#include <random>

namespace sage {

JobId JobId::generate() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i) {
      s[half * 16 + i] = digits[v & 0xf];
      v >>= 4;
    }
  }
  return JobId(std::move(s));
}

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::created:
      return "created";
    case JobState::running:
      return "running";
    case JobState::paused:
      return "paused";
    case JobState::finished:
      return "finished";
    case JobState::failed:
      return "failed";
    case JobState::cancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace sage

namespace sage::detail {

JobHandle::JobHandle(JobId id, std::string name, const Graph& graph, const PhysicalPlan& plan)
    : id_(std::move(id)), name_(std::move(name)), started_(std::chrono::steady_clock::now()) {
  counters_.resize(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    operator_names_.push_back(graph.nodes[n]->name);
    for (int i = 0; i < plan.parallelism[n]; ++i)
      counters_[n].push_back(std::make_unique<InstanceCounters>());
  }
  for (const auto& svc : graph.services) {
    service_names_.push_back(svc.name);
    service_parallelism_.push_back(svc.parallelism);
    service_counters_.push_back(std::make_unique<ServiceCounters>());
  }
  for (const auto& ch : plan.channels)
    channel_producers_.push_back(graph.nodes[graph.edges[ch.edge].from]->name + "_" +
                                 std::to_string(plan.tasks[ch.from_task].instance));
}

void JobHandle::set_running() {
  std::lock_guard<std::mutex> guard(mutex_);
  if (state_ == JobState::created) state_ = JobState::running;
  cv_.notify_all();
}

void JobHandle::wait_running() const {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return state_ != JobState::created; });
}

void JobHandle::finish(JobState state, std::string error) {
  std::vector<std::function<void(JobState, const std::string&)>> listeners;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (is_terminal(state_)) return;
    state_ = state;
    error_ = error;
    ended_ = std::chrono::steady_clock::now();
    listeners.swap(listeners_);
  }
  for (auto& l : listeners) l(state, error);
  cv_.notify_all();
}

JobState JobHandle::state() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return state_;
}

std::string JobHandle::error() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return error_;
}

bool JobHandle::wait_for(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return is_terminal(state_); });
}

void JobHandle::wait() const {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return is_terminal(state_); });
}

void JobHandle::on_end(std::function<void(JobState, const std::string&)> listener) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (is_terminal(state_)) {
    auto state = state_;
    auto error = error_;
    lock.unlock();
    listener(state, error);
    return;
  }
  listeners_.push_back(std::move(listener));
}

std::vector<uint64_t> JobHandle::counter_values() const {
  std::vector<uint64_t> out;
  for (const auto& node : counters_)
    for (const auto& c : node) {
      out.push_back(c->in.load(std::memory_order_relaxed));
      out.push_back(c->out.load(std::memory_order_relaxed));
      out.push_back(c->blocked_ns.load(std::memory_order_relaxed));
      out.push_back(c->late_dropped.load(std::memory_order_relaxed));
      out.push_back(static_cast<uint64_t>(c->watermark.load(std::memory_order_relaxed)));
      out.push_back(c->holding_channel.load(std::memory_order_relaxed));
      out.push_back(c->late_replies.load(std::memory_order_relaxed));
    }
  for (const auto& c : service_counters_) {
    out.push_back(c->calls.load(std::memory_order_relaxed));
    out.push_back(c->restarts.load(std::memory_order_relaxed));
  }
  return out;
}

void JobHandle::set_cluster_counters(const std::vector<uint64_t>& values) {
  size_t expected = counters_per_service * service_counters_.size();
  for (const auto& node : counters_) expected += counters_per_instance * node.size();
  if (values.size() != expected) return;
  std::lock_guard<std::mutex> guard(mutex_);
  cluster_counters_ = values;
}

std::vector<uint64_t> JobHandle::reported_counters() const {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!cluster_counters_.empty()) return cluster_counters_;
  }
  return counter_values();
}

void JobHandle::replay_end(JobState state, std::string error, const std::vector<uint64_t>& counters,
                           std::chrono::milliseconds run_time) {
  set_cluster_counters(counters);
  {
    std::lock_guard<std::mutex> guard(mutex_);
    started_ = std::chrono::steady_clock::now() - run_time;
  }
  finish(state, std::move(error));
  std::lock_guard<std::mutex> guard(mutex_);
  ended_ = started_ + run_time;
}

JobStatus JobHandle::snapshot() const {
  JobStatus s;
  std::vector<uint64_t> cluster;
  s.id = id_;
  s.name = name_;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    s.state = state_;
    s.error = error_;
    auto end = is_terminal(state_) ? ended_ : std::chrono::steady_clock::now();
    s.run_time = std::chrono::duration_cast<std::chrono::milliseconds>(end - started_);
    cluster = cluster_counters_;
  }
  size_t at = 0;  // into `cluster`
  for (size_t n = 0; n < counters_.size(); ++n) {
    OperatorStatus op;
    op.name = operator_names_[n];
    op.parallelism = static_cast<int>(counters_[n].size());
    bool first = true;
    for (const auto& c : counters_[n]) {
      uint64_t v[counters_per_instance];
      if (!cluster.empty()) {
        std::copy_n(cluster.begin() + static_cast<std::ptrdiff_t>(at), counters_per_instance, v);
        at += counters_per_instance;
      } else {
        v[counter_in] = c->in.load(std::memory_order_relaxed);
        v[counter_out] = c->out.load(std::memory_order_relaxed);
        v[counter_late_dropped] = c->late_dropped.load(std::memory_order_relaxed);
        v[counter_watermark] = static_cast<uint64_t>(c->watermark.load(std::memory_order_relaxed));
        v[counter_holding_channel] = c->holding_channel.load(std::memory_order_relaxed);
        v[counter_late_replies] = c->late_replies.load(std::memory_order_relaxed);
      }
      op.late_replies += v[counter_late_replies];
      op.records_in += v[counter_in];
      op.records_out += v[counter_out];
      op.records_late_dropped += v[counter_late_dropped];
      const auto wm = static_cast<int64_t>(v[counter_watermark]);
      if (first || wm < op.watermark) {  // the slowest instance's, and what holds it
        op.watermark = wm;
        const uint64_t ch = v[counter_holding_channel];
        op.watermark_held_by =
            ch > 0 && ch <= channel_producers_.size() ? channel_producers_[ch - 1] : "";
      }
      first = false;
    }
    s.operators.push_back(std::move(op));
  }
  for (size_t i = 0; i < service_counters_.size(); ++i) {
    ServiceStatus svc;
    svc.name = service_names_[i];
    svc.parallelism = service_parallelism_[i];
    if (!cluster.empty() && at + counters_per_service <= cluster.size()) {
      svc.calls = cluster[at];
      svc.restarts = cluster[at + 1];
      at += counters_per_service;
    } else {
      svc.calls = service_counters_[i]->calls.load(std::memory_order_relaxed);
      svc.restarts = service_counters_[i]->restarts.load(std::memory_order_relaxed);
    }
    s.services.push_back(std::move(svc));
  }
  return s;
}

}  // namespace sage::detail
