#pragma once
/// @file actor_feed.hpp
/// `env.from_actor<T>(name)` (API.md section 10), the side without CAF: a
/// bounded queue of batches between the actors that feed a job and the
/// source that emits them, and the process's registry that finds a running
/// source's queue by job and name (`sage::Node::source`, in sage/caf.hpp, puts
/// an actor in front of it). The source runs in the submitting process, where
/// the actors are.
///
/// Backpressure: a batch is accepted (its sender answered) at once while the
/// queue holds fewer than `max_batches` batches, else when the source has
/// taken enough out; so a sender that waits for its answer before the next
/// batch never runs ahead of the job by more than the queue.

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/detail/operator_instances.hpp>

namespace sage::detail {

/// The untyped face of a source's queue, as the actor in front of it sees it.
class ActorFeedBase {
 public:
  virtual ~ActorFeedBase() = default;
  /// `typeid(std::vector<T>)`: what the feeding actors send.
  [[nodiscard]] virtual const std::type_info& batch_type() const = 0;
  /// Queues a copy of `*batch` (a `std::vector<T>`); `accepted(true)` runs
  /// once, now or later (on the source's thread), when the batch is taken in,
  /// `accepted(false)` if the source ends first (or has ended: the batch is dropped).
  virtual void offer(const void* batch, std::function<void(bool)> accepted) = 0;
  /// The stream's end: the source ends once the queue is empty.
  virtual void end() = 0;
  /// The source has ended (a batch offered now is refused).
  [[nodiscard]] virtual bool closed() const = 0;
};

/// Makes `feed` findable as source `name` of job `job` (until `remove_actor_feed`).
void add_actor_feed(const std::string& job, const std::string& name,
                    std::shared_ptr<ActorFeedBase> feed);
void remove_actor_feed(const std::string& job, const std::string& name);
/// The queue of source `name` of job `job`, waiting up to `patience` for it to
/// open; null if it does not.
std::shared_ptr<ActorFeedBase> find_actor_feed(const std::string& job, const std::string& name,
                                               std::chrono::milliseconds patience);

template <class T>
class ActorFeed final : public ActorFeedBase {
 public:
  static constexpr size_t max_batches = 16;

  [[nodiscard]] const std::type_info& batch_type() const override { return typeid(std::vector<T>); }
  void offer(const void* batch, std::function<void(bool)> accepted) override {
    std::function<void()> wake;
    bool now = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) {
        now = true;
      } else {
        queue_.push_back(Pending{*static_cast<const std::vector<T>*>(batch), nullptr});
        if (queue_.size() <= max_batches)
          now = true;
        else
          queue_.back().accepted = std::move(accepted);
        wake = wake_;
      }
    }
    if (now) accepted(!closed());
    if (wake) wake();
  }
  void end() override {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ended_ = true;
      wake = wake_;
    }
    if (wake) wake();
  }
  [[nodiscard]] bool closed() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

  void set_wake(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = std::move(wake);
  }
  /// The next batch, if any; `ended` tells whether the stream is over. Accepts
  /// the batches that now fit in the queue.
  std::optional<std::vector<T>> take(bool& ended) {
    std::vector<std::function<void(bool)>> accept;
    std::optional<std::vector<T>> out;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!queue_.empty()) {
        out.emplace(std::move(queue_.front().records));
        if (queue_.front().accepted) accept.push_back(std::move(queue_.front().accepted));
        queue_.pop_front();
        for (size_t i = 0; i < queue_.size() && i < max_batches; ++i)
          if (queue_[i].accepted) accept.push_back(std::exchange(queue_[i].accepted, nullptr));
      }
      ended = ended_ && queue_.empty();
    }
    for (auto& a : accept) a(true);
    return out;
  }
  /// The source is gone: whoever waits is refused, and later batches too.
  void close() {
    std::vector<std::function<void(bool)>> refuse;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
      for (auto& p : queue_)
        if (p.accepted) refuse.push_back(std::exchange(p.accepted, nullptr));
      queue_.clear();
      wake_ = nullptr;
    }
    for (auto& r : refuse) r(false);
  }

 private:
  struct Pending {
    std::vector<T> records;
    std::function<void(bool)> accepted;  ///< null: accepted already
  };
  mutable std::mutex mutex_;
  std::deque<Pending> queue_;
  std::function<void()> wake_;
  bool ended_ = false;
  bool closed_ = false;
};

/// The source of `from_actor`: emits the batches the actors sent, in the
/// order they came; ends after `eos`. A batch's arrival wakes its task (an
/// `AsyncOperator`, never holding the task's end back).
template <class T>
class ActorSourceInstance final : public SourceInstance, public Emitter<T>, public AsyncOperator {
 public:
  explicit ActorSourceInstance(std::string name) : name_(std::move(name)) {}
  ~ActorSourceInstance() override { unregister(); }

  void open() override {
    if (ctx_.parallelism() != 1)
      throw std::logic_error("from_actor source '" + name_ + "' runs one instance, not " +
                             std::to_string(ctx_.parallelism()));
    feed_->set_wake([wake = wake_] {
      std::function<void()> w;
      {
        std::lock_guard<std::mutex> lock(wake->mutex);
        w = wake->wake;
      }
      if (w) w();
    });
    job_ = ctx_.job_id().str();
    add_actor_feed(job_, name_, feed_);
    registered_ = true;
  }
  void close() override { unregister(); }

  SourceStep step(StepBudget& budget) override {
    size_t emitted = 0;
    bool ended = false;
    while (emitted < budget.max_records && !budget.output_blocked()) {
      if (!pending_.empty()) {
        while (next_ < pending_.size() && emitted < budget.max_records) {
          ++records_out;
          ++emitted;
          this->out_.push(std::move(pending_[next_++]));
        }
        if (next_ < pending_.size()) break;
        pending_.clear();
        next_ = 0;
      }
      auto batch = feed_->take(ended);
      if (!batch) break;
      pending_ = std::move(*batch);
    }
    return {emitted, ended && pending_.empty()};
  }

  void set_waker(std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(wake_->mutex);
    wake_->wake = std::move(wake);
  }
  void deliver() override {}
  [[nodiscard]] bool idle() const override { return true; }

 private:
  struct Wake {
    std::mutex mutex;
    std::function<void()> wake;
  };
  void unregister() {
    if (!registered_) return;
    registered_ = false;
    remove_actor_feed(job_, name_);
    feed_->close();
  }

  std::string name_;
  std::string job_;
  bool registered_ = false;
  std::shared_ptr<ActorFeed<T>> feed_ = std::make_shared<ActorFeed<T>>();
  std::shared_ptr<Wake> wake_ = std::make_shared<Wake>();
  std::vector<T> pending_;
  size_t next_ = 0;
};

}  // namespace sage::detail
