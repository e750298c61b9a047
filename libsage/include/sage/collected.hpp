#pragma once
/// @file collected.hpp
/// `sage::Collected<T>`: records brought back to the submitting program
/// (Flink's executeAndCollect).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/error.hpp>
#include <sage/job.hpp>

namespace sage::detail {

/// Ends a task host whose program took another path than the submitting
/// program did: logs `why` and exits with status 3, which the node that
/// started it reports with this line (run_record.cpp).
[[noreturn]] void end_diverged_task_host(const std::string& why);
/// The same, from an exit handler (the program returned from main or called
/// exit): without the loggers, which may be destroyed by then.
[[noreturn]] void end_diverged_task_host_at_exit(const std::string& why);

/// What one `collect()` sink received during one cluster job, kept in the
/// submitting program so that the task hosts of the program's later jobs can
/// replay it (see `RunRecord`).
class RecordedOutput {
 public:
  virtual ~RecordedOutput() = default;
  [[nodiscard]] virtual std::string type_name() const = 0;
  /// Whether the records can be encoded (their type has a codec).
  [[nodiscard]] virtual bool encodable() const = 0;
  [[nodiscard]] virtual size_t size() const = 0;
  /// Records `first`, `first + 1`, ... encoded, about `max_bytes` of them (at least one).
  [[nodiscard]] virtual std::vector<std::string> encode(size_t first, size_t max_bytes) const = 0;
};

/// A `collect()` sink's buffer as its environment sees it: told when the job
/// starts and ends, and able to record and replay what the job collected.
class JobEndListener {
 public:
  virtual ~JobEndListener() = default;
  virtual void job_started() = 0;
  virtual void job_ended(JobState state, const std::string& error) = 0;
  /// The program now blocks until the job ends (`stop()`, `wait()`,
  /// `submit(true)`): records may no longer wait for it to read them.
  virtual void program_waits() = 0;
  /// Keeps a copy of every record of the job that just started.
  virtual std::shared_ptr<const RecordedOutput> record() = 0;
  /// In a task host: the records (encoded) this sink got in the submitting program.
  virtual void replay(const std::vector<std::string>& encoded) = 0;
  /// In a task host: the records cannot be replayed; reading them ends the task host.
  virtual void unreplayable(std::string why) = 0;
};

/// The records of one job of a `CollectBuffer<T>`, as they arrived.
template <class T>
class CollectRecording final : public RecordedOutput {
 public:
  void add(const T& x) {
    std::lock_guard<std::mutex> guard(mutex_);
    items_.push_back(x);
  }
  [[nodiscard]] std::string type_name() const override { return detail::type_name(typeid(T)); }
  [[nodiscard]] bool encodable() const override { return has_codec<T>; }
  [[nodiscard]] size_t size() const override {
    std::lock_guard<std::mutex> guard(mutex_);
    return items_.size();
  }
  [[nodiscard]] std::vector<std::string> encode(size_t first, size_t max_bytes) const override {
    std::vector<std::string> out;
    if constexpr (has_codec<T>) {
      std::lock_guard<std::mutex> guard(mutex_);
      size_t bytes = 0;
      std::vector<uint8_t> buffer;
      for (size_t i = first; i < items_.size() && (out.empty() || bytes < max_bytes); ++i) {
        buffer.clear();
        ByteWriter w(buffer);
        Codec<T>::encode(w, items_[i]);
        bytes += buffer.size();
        out.emplace_back(buffer.begin(), buffer.end());
      }
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> items_;
};

/// The records a `collect()` sink received, waiting for the program to read them.
///
/// While the program reads as the job runs (`next()`, or `get()` before the end), the
/// buffer holds at most about `limit` records: past it the collecting task is held
/// back (`HoldBack`), and with it, through flow control, the sources. A program that
/// reads only after the job ended (`submit(true)` then `get()`) gets every record, all
/// kept in memory meanwhile, as with Flink's collect into a list.
template <class T>
class CollectBuffer final : public JobEndListener {
 public:
  static constexpr size_t limit = size_t{1} << 16;

  void push(T&& x) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (recording_) recording_->add(x);
      items_.push_back(std::move(x));
    }
    cv_.notify_one();
  }
  void job_started() override {
    std::lock_guard<std::mutex> guard(mutex_);
    items_.clear();
    recording_.reset();
    unreplayable_.clear();
    started_ = true;
    ended_ = false;
    streaming_ = false;
    error_.clear();
    cancelled_ = false;
  }
  void job_ended(JobState state, const std::string& error) override {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      ended_ = true;
      if (state == JobState::failed) error_ = error.empty() ? "job failed" : error;
      cancelled_ = state == JobState::cancelled;
    }
    cv_.notify_all();
  }
  void program_waits() override {
    std::unique_lock<std::mutex> lock(mutex_);
    streaming_ = false;  // unbounded from here: a bound would stall the job forever
    auto wakes = std::move(wakes_);
    wakes_.clear();
    lock.unlock();
    for (auto& w : wakes) w();
  }

  std::shared_ptr<const RecordedOutput> record() override {
    std::lock_guard<std::mutex> guard(mutex_);
    recording_ = std::make_shared<CollectRecording<T>>();
    return recording_;
  }
  void replay(const std::vector<std::string>& encoded) override {
    if constexpr (has_codec<T>) {
      for (const auto& bytes : encoded) {
        T x{};
        ByteReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        Codec<T>::decode(r, x);
        push(std::move(x));
      }
    }
  }
  void unreplayable(std::string why) override {
    std::lock_guard<std::mutex> guard(mutex_);
    unreplayable_ = std::move(why);
  }

  std::vector<T> take_all() {
    std::vector<T> out;
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) throw std::logic_error("Collected::get() before the job was submitted");
    if (!unreplayable_.empty()) end_diverged_task_host(unreplayable_);
    streaming_ = true;
    for (;;) {  // drain as records come, so that a running job is never held back by us
      cv_.wait(lock, [&] { return ended_ || !items_.empty(); });
      out.insert(out.end(), std::make_move_iterator(items_.begin()),
                 std::make_move_iterator(items_.end()));
      items_.clear();
      wake_locked(lock);
      if (ended_ && items_.empty()) break;
    }
    if (!error_.empty()) throw JobFailed(error_);
    if (cancelled_) throw JobFailed("the job was cancelled: its collected records are incomplete");
    return out;
  }
  std::optional<T> next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) throw std::logic_error("Collected::next() before the job was submitted");
    if (!unreplayable_.empty()) end_diverged_task_host(unreplayable_);
    streaming_ = true;
    cv_.wait_for(lock, timeout, [&] { return !items_.empty() || ended_; });
    if (items_.empty()) {
      if (!error_.empty()) throw JobFailed(error_);
      return std::nullopt;
    }
    T x = std::move(items_.front());
    items_.pop_front();
    wake_locked(lock);
    return x;
  }
  bool exhausted() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (!unreplayable_.empty()) end_diverged_task_host(unreplayable_);
    return ended_ && items_.empty();
  }

  /// Whether the collecting tasks must wait for the reader.
  bool full() {
    std::lock_guard<std::mutex> guard(mutex_);
    return full_locked();
  }
  void wake_when_ready(std::function<void()> wake) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!full_locked()) {
      lock.unlock();
      wake();
      return;
    }
    wakes_.push_back(std::move(wake));
  }

 private:
  bool full_locked() const { return streaming_ && !ended_ && items_.size() >= limit; }

  /// Wakes the held-back tasks once the reader has made room (half the limit).
  void wake_locked(std::unique_lock<std::mutex>& lock) {
    if (wakes_.empty() || items_.size() > limit / 2) return;
    auto wakes = std::move(wakes_);
    wakes_.clear();
    lock.unlock();
    for (auto& w : wakes) w();
    lock.lock();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<T> items_;
  std::vector<std::function<void()>> wakes_;
  std::shared_ptr<CollectRecording<T>> recording_;  ///< this job's records, kept for replay
  std::string unreplayable_;  ///< in a task host: why these records cannot be replayed
  bool started_ = false;
  bool streaming_ = false;  ///< the program reads while the job runs
  bool ended_ = false;
  bool cancelled_ = false;
  std::string error_;
};

}  // namespace sage::detail

namespace sage {

/// The records of a `collect()` sink, wherever the job runs.
template <class T>
class Collected {
 public:
  explicit Collected(std::shared_ptr<detail::CollectBuffer<T>> buffer)
      : buffer_(std::move(buffer)) {}
  /// Every record, once the job has ended; throws `JobFailed` if it failed or
  /// was cancelled (its records would be incomplete), `std::logic_error` before
  /// `submit()`.
  std::vector<T> get() { return buffer_->take_all(); }
  /// The next record, waiting up to `timeout`; `nullopt` on timeout or once the
  /// job has ended and every record was read (see `exhausted()`).
  std::optional<T> next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return buffer_->next(timeout);
  }
  /// The job has ended and every record was read.
  bool exhausted() { return buffer_->exhausted(); }

 private:
  std::shared_ptr<detail::CollectBuffer<T>> buffer_;
};

}  // namespace sage
