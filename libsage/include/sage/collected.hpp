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

#include <sage/error.hpp>
#include <sage/job.hpp>

namespace sage::detail {

/// Told when the job it belongs to ends.
class JobEndListener {
 public:
  virtual ~JobEndListener() = default;
  virtual void job_started() = 0;
  virtual void job_ended(JobState state, const std::string& error) = 0;
  /// The program now blocks until the job ends (`stop()`, `wait()`,
  /// `submit(true)`): records may no longer wait for it to read them.
  virtual void program_waits() = 0;
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
      items_.push_back(std::move(x));
    }
    cv_.notify_one();
  }
  void job_started() override {
    std::lock_guard<std::mutex> guard(mutex_);
    items_.clear();
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

  std::vector<T> take_all() {
    std::vector<T> out;
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) throw std::logic_error("Collected::get() before the job was submitted");
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
