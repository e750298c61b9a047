#pragma once
/// @file collected.hpp
/// `sage::Collected<T>`: records brought back to the submitting program
/// (Flink's executeAndCollect).

#include <chrono>
#include <condition_variable>
#include <deque>
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
};

/// The records a `collect()` sink received, waiting for the program to read them.
template <class T>
class CollectBuffer final : public JobEndListener {
 public:
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
  std::vector<T> take_all() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) throw std::logic_error("Collected::get() before the job was submitted");
    cv_.wait(lock, [&] { return ended_; });
    if (!error_.empty()) throw JobFailed(error_);
    if (cancelled_) throw JobFailed("the job was cancelled: its collected records are incomplete");
    std::vector<T> out(std::make_move_iterator(items_.begin()),
                       std::make_move_iterator(items_.end()));
    items_.clear();
    return out;
  }
  std::optional<T> next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) throw std::logic_error("Collected::next() before the job was submitted");
    cv_.wait_for(lock, timeout, [&] { return !items_.empty() || ended_; });
    if (items_.empty()) {
      if (!error_.empty()) throw JobFailed(error_);
      return std::nullopt;
    }
    T x = std::move(items_.front());
    items_.pop_front();
    return x;
  }
  bool exhausted() {
    std::lock_guard<std::mutex> guard(mutex_);
    return ended_ && items_.empty();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool started_ = false;
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
