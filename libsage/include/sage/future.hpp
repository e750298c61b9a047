#pragma once
/// @file future.hpp
/// `sage::Future<R>` and `sage::Promise<R>`: the result of an asynchronous call
/// (`call_service_async`, an `AsyncFunction`), completed once, by whichever
/// thread has it. `then(f)` runs `f` on the completing thread (or at once if
/// the result is there), so a task can get its results back as messages
/// without a thread per call (docs/services.md).

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <sage/error.hpp>

namespace sage {

template <class R>
class Future;
template <class R>
class Promise;

namespace detail {

/// What a future holds for `R` (`void`: nothing but completion).
template <class R>
using future_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class R>
struct FutureState {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  std::optional<future_value_t<R>> value;
  std::exception_ptr error;
  std::vector<std::function<void()>> continuations;  // run once, when done

  /// Completes the future (once: later completions are ignored, e.g. a reply
  /// after the call's timeout). Whether this call completed it.
  bool complete(std::optional<future_value_t<R>> v, std::exception_ptr e) {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (done) return false;
      done = true;
      value = std::move(v);
      error = std::move(e);
      run.swap(continuations);
    }
    done_cv.notify_all();
    for (auto& f : run) f();
    return true;
  }
};

template <class R>
Future<R> make_future(std::shared_ptr<FutureState<R>> s);

}  // namespace detail

/// The result of an asynchronous call, there now or later.
template <class R>
class Future {
 public:
  using value_type = R;
  Future() = default;

  /// Whether this future belongs to a call (a default-made one does not).
  [[nodiscard]] bool valid() const { return state_ != nullptr; }
  /// Whether the result (or error) is there.
  [[nodiscard]] bool ready() const {
    check();
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->done;
  }
  /// Waits for the result; rethrows the call's error (`ServiceError`,
  /// `ServiceTimeout`, ...).
  R get() const {
    check();
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->done_cv.wait(lock, [&] { return state_->done; });
    return take(lock);
  }
  /// Waits at most `timeout`; `ServiceTimeout` if the result is not there by then
  /// (the call goes on: a later `get` may still have it).
  template <class Rep, class Period>
  R get(std::chrono::duration<Rep, Period> timeout) const {
    check();
    std::unique_lock<std::mutex> lock(state_->mutex);
    if (!state_->done_cv.wait_for(lock, timeout, [&] { return state_->done; }))
      throw ServiceTimeout(
          "no result within " +
          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
          " ms");
    return take(lock);
  }

  /// Runs `f(future)` once the future is complete, with its value or its
  /// error, on the thread that completes it (at once if it is complete); its
  /// `get()` then returns or throws without waiting. (How a task learns of its
  /// async calls.) The continuation holds the future's state only weakly: a
  /// future whose promise is dropped unset frees both.
  template <class F>
  void when_done(F f) const {
    check();
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      if (!state_->done) {
        state_->continuations.emplace_back(
            [weak = std::weak_ptr<detail::FutureState<R>>(state_), f = std::move(f)]() mutable {
              if (auto s = weak.lock()) f(detail::make_future(std::move(s)));
            });
        return;
      }
    }
    f(*this);
  }

  /// A future of `f(result)` (or `f()` for `void`), which runs on the thread
  /// that completes this one (at once if it is complete). An error skips `f`
  /// and passes on; an exception from `f` becomes the new future's error.
  template <class F>
  auto then(F f) const {
    check();
    using U =
        std::remove_cvref_t<decltype(call_with(f, std::declval<detail::future_value_t<R>&>()))>;
    auto next = std::make_shared<detail::FutureState<U>>();
    auto self = state_;
    auto run = [self, next, f = std::move(f)]() mutable {
      if (self->error) {
        next->complete(std::nullopt, self->error);
        return;
      }
      try {
        if constexpr (std::is_void_v<U>) {
          call_with(f, *self->value);
          next->complete(std::monostate{}, nullptr);
        } else {
          next->complete(call_with(f, *self->value), nullptr);
        }
      } catch (...) {
        next->complete(std::nullopt, std::current_exception());
      }
    };
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      if (!state_->done) {
        state_->continuations.emplace_back(std::move(run));
        return detail::make_future(next);
      }
    }
    run();
    return detail::make_future(next);
  }

 private:
  template <class U>
  friend Future<U> detail::make_future(std::shared_ptr<detail::FutureState<U>> s);
  explicit Future(std::shared_ptr<detail::FutureState<R>> s) : state_(std::move(s)) {}

  template <class F, class V>
  static decltype(auto) call_with(F& f, V& v) {
    if constexpr (std::is_void_v<R>)
      return f();
    else
      return f(v);
  }
  void check() const {
    if (state_ == nullptr) throw std::logic_error("sage::Future: no call behind this future");
  }
  R take(std::unique_lock<std::mutex>&) const {
    if (state_->error) std::rethrow_exception(state_->error);
    if constexpr (!std::is_void_v<R>) return *state_->value;
  }

  std::shared_ptr<detail::FutureState<R>> state_;
};

namespace detail {
template <class R>
Future<R> make_future(std::shared_ptr<FutureState<R>> s) {
  return Future<R>(std::move(s));
}
}  // namespace detail

/// Makes a `Future` from any callback-based client: complete it once with
/// `set_value` or `set_error` (later completions are ignored).
template <class R>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::FutureState<R>>()) {}
  [[nodiscard]] Future<R> future() const { return detail::make_future(state_); }

  template <class... V>
  bool set_value(V&&... v) {
    if constexpr (std::is_void_v<R>) {
      static_assert(sizeof...(V) == 0, "a Promise<void> is set without a value");
      return state_->complete(std::monostate{}, nullptr);
    } else {
      return state_->complete(R(std::forward<V>(v)...), nullptr);
    }
  }
  bool set_error(std::exception_ptr e) { return state_->complete(std::nullopt, std::move(e)); }
  template <class E>
  bool set_exception(E e) {
    return set_error(std::make_exception_ptr(std::move(e)));
  }

 private:
  std::shared_ptr<detail::FutureState<R>> state_;
};

}  // namespace sage
