#pragma once
// A deterministic harness for one task's user code (a `TaskBody`), without
// actors, threads or timers, after Flink's OneInputStreamOperatorTestHarness:
// build a job from an environment's graph, pick one of its tasks, feed batches
// into its input slots, end them, run source steps, and read what it shipped on
// each output slot, in order. The window and join operators of the next
// features are tested through it.
//
// It does what the task actor does around the body (task_actor.cpp), in the
// same order: `open` before the first record, `close` then `flush` once every
// input slot has ended (or the source has), and no credit limits: every batch
// is shipped as soon as a writer hands it over. Flow control is the task
// actor's, tested with CAF's deterministic scheduler (task_actor_test.cpp).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sage/detail/job_spec.hpp>
#include <sage/detail/plan.hpp>
#include <sage/detail/task_body.hpp>
#include <sage/environment.hpp>

namespace sage::test {

/// Builds the job `env`'s streams describe (as `execute` would, without
/// running it): its graph, its plan under `config`, and its status counters.
inline std::shared_ptr<detail::JobSpec> compile_job(Environment& env, const Config& config = {},
                                                    detail::PlanOptions options = {}) {
  auto spec = std::make_shared<detail::JobSpec>();
  spec->id = JobId::generate();
  spec->name = "harness";
  spec->graph = detail::EnvAccess::graph(env).snapshot();
  spec->plan = detail::compile_plan(spec->graph, config, options);
  spec->config = std::make_shared<const Config>(config);
  detail::read_job_settings(*spec, config);  // as submit() reads them
  spec->handle = std::make_shared<detail::JobHandle>(spec->id, spec->name, spec->graph, spec->plan);
  return spec;
}

/// The task of `job` whose chain starts with the operator named `op`, instance `instance`.
inline int task_of(const detail::JobSpec& job, const std::string& op, int instance = 0) {
  for (const auto& t : job.plan.tasks) {
    const auto& chain = job.plan.chains[t.chain];
    if (job.graph.nodes[chain.nodes.front()]->name == op && t.instance == instance) return t.id;
  }
  throw std::invalid_argument("no task starts with operator '" + op + "'");
}

class TaskHarness final : private detail::BatchTransport {
 public:
  /// Task `task_id` of `job`; opens its operators.
  TaskHarness(std::shared_ptr<detail::JobSpec> job, int task_id)
      : job_(std::move(job)), body_(*job_, task_id, *this) {
    ended_.assign(body_.input_count(), false);
    body_.open();
  }

  /// The task that runs operator `op` (instance 0) of the job `env` describes.
  static std::unique_ptr<TaskHarness> of(Environment& env, const std::string& op,
                                         const Config& config = {}) {
    auto job = compile_job(env, config);
    const int task = task_of(*job, op);
    return std::make_unique<TaskHarness>(std::move(job), task);
  }

  /// Feeds `records` as one batch on input slot `slot` (as an upstream task
  /// in this process sends it).
  template <class T>
  void push(uint32_t slot, std::vector<T> records) {
    require_open(slot);
    detail::Batch<T> batch(std::move(records));
    body_.consume(slot, batch);
  }

  /// Feeds `records` with their event times as one batch on `slot`.
  template <class T>
  void push_timed(uint32_t slot, std::vector<T> records, std::vector<int64_t> timestamps) {
    require_open(slot);
    detail::Batch<T> batch(std::move(records), std::move(timestamps));
    body_.consume(slot, batch);
  }

  /// A marker (watermark, idle, active) arriving on `slot`, after the batches before it.
  void mark(uint32_t slot, detail::Marker marker) {
    require_open(slot);
    body_.on_marker(slot, marker);
  }
  void watermark(uint32_t slot, int64_t wm) {
    mark(slot, detail::Marker{detail::Marker::Kind::watermark, wm});
  }

  /// What the task's periodic tick does: hands time down the chain now.
  void tick() { body_.advance_time(); }

  /// Feeds `records` encoded, as a batch from another node arrives.
  template <class T>
  void push_encoded(uint32_t slot, std::vector<T> records) {
    require_open(slot);
    detail::EncodedBatch batch(detail::Batch<T>(std::move(records)).encode());
    body_.consume(slot, batch);
  }

  /// End-of-stream on input slot `slot`; once every slot has ended, the task
  /// closes its operators and ships what is left.
  void end(uint32_t slot) {
    require_open(slot);
    body_.on_marker(slot, detail::Marker{detail::Marker::Kind::end_of_stream, 0});
    ended_.at(slot) = true;
    for (bool e : ended_)
      if (!e) return;
    finish();
  }

  /// One source step of at most `max_records` records; the task finishes when
  /// the source ends.
  detail::SourceStep step(size_t max_records = 4096) {
    if (closed_) throw std::logic_error("the task has finished");
    detail::StepBudget budget(max_records, std::chrono::hours(1));
    auto s = body_.run_source(budget);
    if (s.ended) finish();
    return s;
  }

  /// Runs source steps until the source ends.
  void run_source() {
    while (!closed_) step();
  }

  /// Ships partly filled batches (what buffer.timeout does).
  void flush() { body_.flush(); }

  /// Everything shipped on output slot `slot` so far, in order, as records of `T`.
  template <class T>
  std::vector<T> shipped(uint32_t slot) const {
    std::vector<T> out;
    auto it = shipped_.find(slot);
    if (it == shipped_.end()) return out;
    for (const auto& item : it->second)
      if (item.batch)
        for (const auto& r : static_cast<const detail::Batch<T>&>(*item.batch).records)
          out.push_back(r);
    return out;
  }
  /// The event times of what went out on `slot` (empty if the stream has none).
  template <class T>
  std::vector<int64_t> shipped_timestamps(uint32_t slot) const {
    std::vector<int64_t> out;
    auto it = shipped_.find(slot);
    if (it == shipped_.end()) return out;
    for (const auto& item : it->second)
      if (item.batch) {
        const auto& ts = static_cast<const detail::Batch<T>&>(*item.batch).timestamps;
        out.insert(out.end(), ts.begin(), ts.end());
      }
    return out;
  }
  /// The markers that went out on `slot`, in order.
  [[nodiscard]] std::vector<detail::Marker> markers(uint32_t slot) const {
    std::vector<detail::Marker> out;
    auto it = shipped_.find(slot);
    if (it != shipped_.end())
      for (const auto& item : it->second)
        if (!item.batch) out.push_back(item.marker);
    return out;
  }
  /// What went out on `slot`, in order: "b3" for a batch of 3 records, "w100"
  /// for a watermark, "idle", "active", "eos".
  [[nodiscard]] std::vector<std::string> sequence(uint32_t slot) const {
    std::vector<std::string> out;
    auto it = shipped_.find(slot);
    if (it == shipped_.end()) return out;
    for (const auto& item : it->second) {
      using K = detail::Marker::Kind;
      if (item.batch)
        out.push_back("b" + std::to_string(item.batch->size()));
      else if (item.marker.kind == K::watermark)
        out.push_back("w" + std::to_string(item.marker.value));
      else
        out.push_back(item.marker.kind == K::idle     ? "idle"
                      : item.marker.kind == K::active ? "active"
                                                      : "eos");
    }
    return out;
  }
  /// How many batches went out on `slot`.
  [[nodiscard]] size_t batches(uint32_t slot) const {
    auto it = shipped_.find(slot);
    if (it == shipped_.end()) return 0;
    size_t n = 0;
    for (const auto& item : it->second) n += item.batch ? 1 : 0;
    return n;
  }
  [[nodiscard]] bool finished() const { return closed_; }
  detail::TaskBody& body() { return body_; }
  const detail::JobSpec& job() const { return *job_; }

 private:
  void send(uint32_t out_slot, detail::BatchPtr batch) override {
    shipped_[out_slot].push_back(Shipped{std::move(batch), {}});
  }
  void send_marker(uint32_t out_slot, detail::Marker marker) override {
    shipped_[out_slot].push_back(Shipped{nullptr, marker});
  }
  void require_open(uint32_t slot) const {
    if (closed_) throw std::logic_error("the task has finished");
    if (slot >= ended_.size()) throw std::out_of_range("no input slot " + std::to_string(slot));
    if (ended_[slot]) throw std::logic_error("input slot " + std::to_string(slot) + " has ended");
  }
  void finish() {
    body_.end_time();
    body_.close();
    body_.flush();
    closed_ = true;
  }

  std::shared_ptr<detail::JobSpec> job_;
  detail::TaskBody body_;
  std::vector<bool> ended_;
  bool closed_ = false;
  struct Shipped {  // a batch, or (without one) a marker
    detail::BatchPtr batch;
    detail::Marker marker;
  };
  std::map<uint32_t, std::vector<Shipped>> shipped_;
};

}  // namespace sage::test
