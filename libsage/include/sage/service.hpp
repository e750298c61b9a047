#pragma once
/// @file service.hpp
/// Services (API.md section 6): a class whose public methods are callable by
/// name from any operator, from other services and from driver code.
///
/// ```cpp
/// struct FeatureStore : sage::Service {
///   Features process(const std::string& user);                 // the default method
///   Features lookup(const std::string& user, int window_days);
///   static void methods(sage::Methods<FeatureStore>& m) { m.add("lookup", &FeatureStore::lookup);
///   }
/// };
/// ```
///
/// `process`, if the class has one, is callable without naming it; every other
/// method is one line of `methods`. A call's arguments travel as they are
/// within a process and through their codecs across nodes (docs/services.md).

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/detail/service_call.hpp>
#include <sage/error.hpp>
#include <sage/functions.hpp>
#include <sage/future.hpp>

namespace sage {

/// The base of a service: `open(ctx)` and `close()` as any function class, and
/// `ctx()` (to call other services, log, read the config). One instance serves
/// one request at a time; its members are its own.
class Service : public BaseFunction {};

/// The methods of service `S` callable by name (`S::methods(Methods<S>&)`).
template <class S>
class Methods {
 public:
  /// Makes `m` callable as `name`.
  template <class R, class C, class... A>
  Methods& add(std::string name, R (C::*m)(A...)) {
    invokers_[std::move(name)] = [m](S& s, const detail::Payload& args) {
      return call<R, A...>(args, [&](auto&... a) -> decltype(auto) { return (s.*m)(a...); });
    };
    return *this;
  }
  template <class R, class C, class... A>
  Methods& add(std::string name, R (C::*m)(A...) const) {
    invokers_[std::move(name)] = [m](S& s, const detail::Payload& args) {
      return call<R, A...>(args, [&](auto&... a) -> decltype(auto) { return (s.*m)(a...); });
    };
    return *this;
  }

  [[nodiscard]] const detail::Invoker<S>* find(const std::string& name) const {
    auto it = invokers_.find(name);
    return it == invokers_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, i] : invokers_) out.push_back(n);
    return out;
  }

 private:
  /// Decodes the arguments as the method's, calls `f` with them, wraps its result.
  template <class R, class... A, class F>
  static detail::Payload call(const detail::Payload& args, F&& f) {
    auto tuple = args.take<std::tuple<std::decay_t<A>...>>("the arguments do not fit the method");
    if constexpr (std::is_void_v<R>) {
      std::apply(f, tuple);
      return detail::Payload::of(std::tuple<>{});
    } else {
      return detail::Payload::of(detail::payload_result_t<R>(std::apply(f, tuple)));
    }
  }

  std::map<std::string, detail::Invoker<S>> invokers_;
};

namespace detail {

/// The methods of `S`: `process` (if it has exactly one) and those of `S::methods`.
template <class S>
Methods<S> methods_of() {
  Methods<S> m;
  if constexpr (requires { &S::process; }) m.add("process", &S::process);
  if constexpr (requires(Methods<S> & t) { S::methods(t); }) S::methods(m);
  return m;
}

/// A service instance, type-erased, as the runtime's service actor holds it.
class ServiceObject {
 public:
  /// Completes a call with its result, or its error.
  using Done = std::function<void(Payload, std::exception_ptr)>;

  virtual ~ServiceObject() = default;
  virtual BaseFunction& function() = 0;
  /// Serves one call; `ServiceError` for an unknown method or arguments that
  /// do not fit, any exception of the method as it is.
  virtual Payload call(const std::string& method, const Payload& args) = 0;
  [[nodiscard]] virtual std::vector<std::string> method_names() const = 0;
  /// Whether calls are answered later (`call_async`), not by `call`'s return:
  /// a pipeline service's front, which answers when the pipeline has.
  [[nodiscard]] virtual bool answers_later() const { return false; }
  /// Serves one call whose answer may come later, through `done`, called once
  /// on the instance's own thread (from this or a later call); an exception
  /// thrown here fails the call instead.
  virtual void call_async(const std::string& method, const Payload& args, Done done) {
    done(call(method, args), nullptr);
  }
};

template <class S>
class TypedServiceObject final : public ServiceObject {
 public:
  explicit TypedServiceObject(std::unique_ptr<S> s) : s_(std::move(s)), methods_(methods_of<S>()) {}
  BaseFunction& function() override { return *s_; }
  Payload call(const std::string& method, const Payload& args) override {
    const Invoker<S>* m = methods_.find(method);
    if (m == nullptr) {
      std::string known;
      for (const auto& n : methods_.names()) known += (known.empty() ? "" : ", ") + n;
      throw ServiceError("the service has no method '" + method +
                         "' (it has: " + (known.empty() ? std::string("none") : known) + ")");
    }
    return (*m)(*s_, args);
  }
  [[nodiscard]] std::vector<std::string> method_names() const override { return methods_.names(); }

 private:
  std::unique_ptr<S> s_;
  Methods<S> methods_;
};

}  // namespace detail
}  // namespace sage
