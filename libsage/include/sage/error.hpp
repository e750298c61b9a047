#pragma once
/// @file error.hpp
/// The exceptions that reach user code. Inside the runtime, failures travel as
/// messages between actors; these types exist only at the edges of the API.

#include <stdexcept>
#include <string>

namespace sage {

/// A pipeline that cannot be built or run as described: a parallelism below 1,
/// a job without operators, a stream used with another environment's stream.
/// Raised while the graph is built or at `submit()`, never later.
class GraphError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The runtime did not accept the job: a cluster's head could not be reached,
/// or it cannot place the job (the message says what is missing, e.g. "cannot
/// place \"train\" instance 0 (it needs 0 cpus, 0 MB, 2 gpus); worker
/// 127.0.0.1:4711: 0 gpus free"). Raised by `submit()`; nothing of the job ran.
class SubmitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The job failed. `what()` names the operator, its instance and the cause, e.g.
/// `operator "parse" instance 2 failed: stoi: no conversion`.
class JobFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The job was cancelled before it finished (`sage job cancel`, a second
/// Ctrl-C, `close()` from another thread): what `submit(true)` and `wait()`
/// throw then, as Flink's `execute()` does. Its records are incomplete.
class JobCancelled : public JobFailed {
 public:
  using JobFailed::JobFailed;
};

/// A service call failed: the service threw (`what()` carries its message),
/// the service or method is unknown (named), the arguments do not fit the
/// method, or the instance serving the call died while it was in flight.
class ServiceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A service call had no answer within its timeout (`sage::timeout`, 10 s by
/// default). A `ServiceError` too, so that one `catch` takes every failed call.
class ServiceTimeout : public ServiceError {
 public:
  using ServiceError::ServiceError;
};

}  // namespace sage
