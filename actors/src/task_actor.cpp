/// The task actor: runs one task instance (a chain of fused operators).
///
/// Its messages: `TaskHandle` in protocol.hpp.
///
/// Flow control: an output channel may hold `channel.credits` batches in flight.
/// A batch for a channel without credit waits in that channel's pending queue,
/// and while any channel has pending batches the task consumes no input and
/// runs no source step. Input batches are acknowledged (credit returned) only
/// once processed, so backpressure travels upstream to the sources and memory
/// stays bounded (docs/architecture.md, "Flow control").
///
/// Feedback loops (docs/streams.md): a channel that carries a loop's feedback
/// edge never waits for credit (a cycle of bounded channels can deadlock). A
/// task of a loop counts the messages it sends and consumes on the loop's
/// channels and tells its Dispatcher once its inputs from outside the loop have
/// ended; the Dispatcher's waves of `loop_probe` find out when nothing is left
/// in the loop, and then tell the loop's future that its feedback inputs ended.

#include <algorithm>
#include <deque>
#include <memory>

#include <spdlog/spdlog.h>

#include <sage/actors/protocol.hpp>
#include <sage/detail/task_body.hpp>

namespace sage::actors {

namespace {

using detail::BatchPtr;

/// The longest a source step runs before the task handles its other messages.
constexpr auto source_step_time = std::chrono::milliseconds(1);

class TaskActor final : public TaskHandle::base {
 public:
  TaskActor(caf::actor_config& cfg, JobSpecPtr job, int task_id, caf::actor dispatcher)
      : TaskHandle::base(cfg),
        job_(std::move(job)),
        task_id_(task_id),
        dispatcher_(std::move(dispatcher)),
        transport_(this) {
    credit_chunk_ = std::max(1, job_->channel_credits / 2);
  }

  const char* name() const override { return "sage.task"; }

  behavior_type make_behavior() override {
    set_default_handler(drop_unexpected);
    set_down_handler([this](caf::down_msg& dm) { on_peer_down(dm); });
    return {
        // Answered (empty): the Dispatcher starts tasks only once every task is wired.
        [this](wire_atom, const TaskWiring& w) { wire(w); },
        [this](start_atom) { run_or_fail([&] { start(); }); },
        [this](batch_atom, uint32_t slot, BatchMessage& batch) {
          run_or_fail([&] {
            in_.at(slot).queued.push_back(Incoming{std::move(batch.batch), {}});
            drain_inputs();
          });
        },
        [this](marker_atom, uint32_t slot, detail::Marker marker) {
          run_or_fail([&] {
            in_.at(slot).queued.push_back(Incoming{nullptr, marker});
            drain_inputs();
          });
        },
        [this](credit_atom, uint32_t slot, int32_t n) {
          run_or_fail([&] {
            if (out_.at(slot).feedback) return;  // it never waits for credit
            out_.at(slot).credit += n;
            pump(slot);
            if (!blocked()) {
              drain_inputs();
              schedule_source_step();
            }
            maybe_complete();
          });
        },
        [this](continue_atom) {
          source_step_scheduled_ = false;
          run_or_fail([&] { source_step(); });
        },
        [this](flush_atom) {
          flush_timer_pending_ = false;
          run_or_fail([&] {
            if (phase_ == Phase::running) body_->flush();
          });
        },
        [this](tick_atom) {
          tick_pending_ = false;
          run_or_fail([&] {
            if (phase_ != Phase::running) return;
            body_->advance_time();
            if (finish_when_idle_) {
              finish();  // the last calls may have gone (timed out, or their results out)
              return;
            }
            after_step();
          });
        },
        [this](async_done_atom) {
          run_or_fail([&] {
            if (phase_ != Phase::running) return;
            body_->deliver_async();
            if (finish_when_idle_) {
              finish();
              return;
            }
            after_step();
            drain_inputs();
            schedule_source_step();
          });
        },
        [this](resume_atom) {
          wake_pending_ = false;
          run_or_fail([&] {
            drain_inputs();
            schedule_source_step();
          });
        },
        [this](job_pause_atom) {
          paused_ = true;
          // What the source emitted already still flows: partial batches go out.
          run_or_fail([&] {
            if (phase_ == Phase::running) body_->flush();
          });
        },
        [this](job_resume_atom) {
          paused_ = false;
          run_or_fail([&] { schedule_source_step(); });
        },
        [this](stop_atom) {
          run_or_fail([&] {
            if (phase_ == Phase::running && body_->is_source()) finish();
          });
        },
        [this](loop_probe_atom, uint64_t wave) {
          run_or_fail([&] {
            // What the operators hold in partial batches counts as sent.
            if (phase_ == Phase::running) body_->flush();
            // A record in an asynchronous call is still on its way: one more
            // sent than consumed keeps the wave from being quiet.
            const uint64_t in_calls = body_ && !body_->async_idle() ? 1 : 0;
            caf::anon_send(dispatcher_, loop_counts_atom::value, task_id_, wave,
                           loop_sent_ + in_calls, loop_received_);
          });
        },
        [this](loop_end_atom) {
          run_or_fail([&] {
            // Nothing is left in the loop: its feedback inputs have ended.
            for (auto& c : in_)
              if (c.feedback && !c.eos)
                c.queued.push_back(
                    Incoming{nullptr, detail::Marker{detail::Marker::Kind::end_of_stream, 0}});
            drain_inputs();
          });
        },
    };
  }

  void on_exit() override {
    // User functions are destroyed here, before the Dispatcher learns that the
    // task ended: once a job has ended, no user code runs any more.
    body_.reset();
    // Tasks hold their peers and their Dispatcher, which holds them: drop the
    // handles so that the actors (and the job they share) can be freed.
    out_.clear();
    in_.clear();
    dispatcher_ = nullptr;
    job_.reset();
  }

 private:
  enum class Phase { created, running, closing, done };

  /// A batch, or (without one) a marker: what waits on a channel, in order.
  struct Outgoing {
    BatchPtr batch;
    detail::Marker marker;
  };
  using Incoming = Outgoing;

  struct OutChannel {
    TaskHandle peer;
    uint32_t peer_slot = 0;
    int32_t credit = 0;
    /// Waits for credit: its front is a batch (markers behind it wait with it).
    std::deque<Outgoing> pending;
    bool eos_sent = false;
    bool in_loop = false;   ///< inside this task's loop: its messages are counted
    bool feedback = false;  ///< a loop's feedback edge: never waits for credit
  };

  struct InChannel {
    TaskHandle peer;
    uint32_t peer_slot = 0;
    std::deque<Incoming> queued;
    bool eos = false;  ///< its end-of-stream was processed
    int32_t unacked = 0;
    bool in_loop = false;   ///< inside this task's loop: its messages are counted
    bool feedback = false;  ///< a loop's feedback edge: takes no credit
    [[nodiscard]] bool ended() const { return eos; }
  };

  /// The writers' way out: send with credit, queue without.
  class Transport final : public detail::BatchTransport {
   public:
    explicit Transport(TaskActor* self) : self_(self) {}
    void send(uint32_t slot, BatchPtr batch) override { self_->send_batch(slot, std::move(batch)); }
    void send_marker(uint32_t slot, detail::Marker marker) override {
      self_->send_marker(slot, marker);
    }

   private:
    TaskActor* self_;
  };

  void wire(const TaskWiring& w) {
    out_.resize(w.outputs.size());
    for (size_t i = 0; i < w.outputs.size(); ++i) {
      out_[i].peer = w.outputs[i];
      out_[i].peer_slot = w.output_peer_slots[i];
    }
    in_.resize(w.inputs.size());
    for (size_t i = 0; i < w.inputs.size(); ++i) {
      in_[i].peer = w.inputs[i];
      in_[i].peer_slot = w.input_peer_slots[i];
    }
    // A peer on another node is watched: when the link to it drops, batches or
    // credit sent over it may be lost, and the job must fail rather than hang.
    for (const auto& peer : w.outputs) watch(peer);
    for (const auto& peer : w.inputs) watch(peer);
    loop_ = job_->plan.tasks[task_id_].loop;
    for (const auto& ch : job_->plan.channels) {
      if (ch.from_task == task_id_ && static_cast<size_t>(ch.from_slot) < out_.size()) {
        out_[ch.from_slot].in_loop = ch.loop >= 0;
        out_[ch.from_slot].feedback = ch.feedback;
      }
      if (ch.to_task == task_id_ && static_cast<size_t>(ch.to_slot) < in_.size()) {
        in_[ch.to_slot].in_loop = ch.loop >= 0;
        in_[ch.to_slot].feedback = ch.feedback;
      }
    }
  }

  void watch(const TaskHandle& peer) {
    if (!peer || peer.node() == node()) return;
    if (std::find(watched_.begin(), watched_.end(), peer.address()) != watched_.end()) return;
    watched_.push_back(peer.address());
    monitor(peer);
  }

  /// A watched peer ended. Normally it just finished (or the job is being
  /// ended); only an unreachable one is news.
  void on_peer_down(const caf::down_msg& dm) {
    if (dm.reason != caf::exit_reason::remote_link_unreachable || phase_ == Phase::done) return;
    int peer_task = -1;
    for (const auto& ch : job_->plan.channels) {
      const auto out_slot = static_cast<size_t>(ch.from_slot);
      const auto in_slot = static_cast<size_t>(ch.to_slot);
      const bool mine_out = ch.from_task == task_id_ && out_slot < out_.size() &&
                            out_[out_slot].peer.address() == dm.source;
      const bool mine_in = ch.to_task == task_id_ && in_slot < in_.size() &&
                           in_[in_slot].peer.address() == dm.source;
      if (mine_out) peer_task = ch.to_task;
      if (mine_in) peer_task = ch.from_task;
      if (peer_task >= 0) break;
    }
    caf::anon_send(dispatcher_, task_link_atom::value, task_id_, peer_task, to_string(dm.reason));
  }

  void start() {
    body_ = std::make_unique<detail::TaskBody>(*job_, task_id_, transport_);
    // A weak handle: the waker sits in the futures of calls that may outlive the task.
    body_->set_async_waker([self = caf::actor_cast<caf::weak_actor_ptr>(this)] {
      if (auto strong = caf::actor_cast<caf::actor>(self))
        caf::anon_send(strong, async_done_atom::value);
    });
    body_->open();
    phase_ = Phase::running;
    for (auto& c : in_)
      if (!c.feedback)
        send(c.peer, credit_atom::value, c.peer_slot, int32_t{job_->channel_credits});
    if (body_->is_source())
      schedule_source_step();
    else
      drain_inputs();  // an upstream may have ended before this task started
    schedule_tick();
  }

  // -- output side -------------------------------------------------------------

  void send_batch(uint32_t slot, BatchPtr batch) {
    auto& c = out_[slot];
    if (c.in_loop) ++loop_sent_;  // from now on in the loop: sent, or waiting to be
    if (c.feedback) {
      send(c.peer, batch_atom::value, c.peer_slot, BatchMessage{std::move(batch)});
      return;
    }
    if (c.pending.empty() && c.credit > 0) {
      --c.credit;
      send(c.peer, batch_atom::value, c.peer_slot, BatchMessage{std::move(batch)});
      return;
    }
    if (c.pending.empty() && blocked_channels_++ == 0)
      blocked_since_ = std::chrono::steady_clock::now();
    c.pending.push_back(Outgoing{std::move(batch), {}});
  }

  /// A marker goes out at once unless batches wait on its channel; then it
  /// waits behind them (it takes no credit itself).
  void send_marker(uint32_t slot, detail::Marker marker) {
    auto& c = out_[slot];
    if (c.in_loop) ++loop_sent_;
    if (c.pending.empty()) {
      transmit_marker(c, marker);
      return;
    }
    c.pending.push_back(Outgoing{nullptr, marker});
  }

  void transmit_marker(OutChannel& c, const detail::Marker& marker) {
    if (marker.kind == detail::Marker::Kind::end_of_stream) c.eos_sent = true;
    send(c.peer, marker_atom::value, c.peer_slot, marker);
  }

  /// Sends what the channel's credit allows, and the markers between.
  void pump(uint32_t slot) {
    auto& c = out_[slot];
    if (c.pending.empty()) return;
    while (!c.pending.empty()) {
      auto& front = c.pending.front();
      if (front.batch == nullptr) {
        transmit_marker(c, front.marker);
      } else if (c.credit > 0) {
        --c.credit;
        send(c.peer, batch_atom::value, c.peer_slot, BatchMessage{std::move(front.batch)});
      } else {
        break;
      }
      c.pending.pop_front();
    }
    if (c.pending.empty() && --blocked_channels_ == 0) {
      blocked_ns_ += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now() - blocked_since_)
                                               .count());
      body_->publish_blocked(blocked_ns_);
    }
  }

  [[nodiscard]] bool blocked() const { return blocked_channels_ > 0; }

  /// This task's own handle, for the messages it sends itself.
  TaskHandle own_handle() { return caf::actor_cast<TaskHandle>(this); }

  /// Whether an operator holds the task back (a collect() sink whose reader is
  /// behind); if so, asks to be woken with `resume` once it lets go.
  bool held_back() {
    if (!body_->held_back()) return false;
    if (!wake_pending_) {
      wake_pending_ = true;
      // A weak handle: the waker sits in a buffer the user's program owns.
      body_->wake_when_ready([self = caf::actor_cast<caf::weak_actor_ptr>(this)] {
        if (auto strong = caf::actor_cast<caf::actor>(self))
          caf::anon_send(strong, resume_atom::value);
      });
    }
    return true;
  }

  // -- input side --------------------------------------------------------------

  /// Processes queued input batches, fairly across channels, until none is left
  /// or an output channel runs out of credit.
  void drain_inputs() {
    if (phase_ != Phase::running || body_->is_source()) return;
    const size_t n = in_.size();
    size_t idle = 0;
    while (!blocked() && !held_back() && idle < n) {
      auto slot = static_cast<uint32_t>(next_input_);
      next_input_ = (next_input_ + 1) % n;
      auto& c = in_[slot];
      if (c.queued.empty()) {
        ++idle;
        continue;
      }
      idle = 0;
      Incoming next = std::move(c.queued.front());
      c.queued.pop_front();
      if (c.in_loop) ++loop_received_;
      if (next.batch == nullptr) {
        if (c.eos) continue;  // nothing follows end-of-stream
        if (next.marker.kind == detail::Marker::Kind::end_of_stream) c.eos = true;
        body_->on_marker(slot, next.marker);
        continue;
      }
      if (c.eos) {
        // Only a loop's feedback edge can bring records after its end: what an
        // operator of the loop emitted into it while the loop closed.
        detail::log("runtime").warn(
            "{}: {} records came back over a feedback edge after the loop had ended", body_->name(),
            next.batch->size());
        continue;
      }
      body_->consume(slot, *next.batch);
      next.batch.reset();
      if (!c.feedback && ++c.unacked >= credit_chunk_) {
        send(c.peer, credit_atom::value, c.peer_slot, c.unacked);
        c.unacked = 0;
      }
    }
    report_loop_ready();
    for (const auto& c : in_)
      if (!c.ended()) {
        after_step();
        return;
      }
    finish();  // end-of-stream on every input channel, and nothing left to process
  }

  /// Tells the Dispatcher, once, that every input from outside this task's
  /// loop has ended: from then on only the loop's own records can keep it busy.
  void report_loop_ready() {
    if (loop_ < 0 || loop_ready_reported_) return;
    for (const auto& c : in_)
      if (!c.in_loop && !c.eos) return;
    loop_ready_reported_ = true;
    caf::anon_send(dispatcher_, loop_ready_atom::value, task_id_);
  }

  // -- sources -----------------------------------------------------------------

  void schedule_source_step() {
    if (phase_ != Phase::running || !body_->is_source() || source_step_scheduled_ || blocked() ||
        paused_)
      return;
    source_step_scheduled_ = true;
    send(own_handle(), continue_atom::value);
  }

  void source_step() {
    if (phase_ != Phase::running || blocked() || held_back() || paused_ || finish_when_idle_)
      return;
    detail::StepBudget budget(job_->batch_size, source_step_time, &blocked_channels_);
    const auto step = body_->run_source(budget);
    if (step.ended) {
      finish();
      return;
    }
    if (step.emitted == 0) {
      // Nothing now: ship what waits, then poll again, backing off while idle.
      body_->flush();
      after_step();
      ++idle_polls_;
      if (idle_polls_ < 16) {
        schedule_source_step();
      } else if (!blocked()) {
        source_step_scheduled_ = true;
        auto delay = std::chrono::microseconds(idle_polls_ < 1000 ? 50 : 1000);
        delayed_send(own_handle(), delay, continue_atom::value);
      }
      return;
    }
    idle_polls_ = 0;
    schedule_source_step();  // first: a source that produced is not idle
    after_step();
  }

  // -- after each step: counters and the buffer timeout ------------------------

  void after_step() {
    body_->publish_counters();
    if (phase_ != Phase::running) return;
    if (body_->take_status_change()) body_->advance_time();
    schedule_tick();
    if (!body_->has_partial()) return;
    if (job_->buffer_timeout_ms == 0 || (mailbox().empty() && !blocked())) {
      // Nothing else to do now: do not let a partial batch wait. (A blocked task
      // resumes when credit arrives; its partial batches keep filling meanwhile.)
      body_->flush();
    } else if (!flush_timer_pending_) {
      flush_timer_pending_ = true;
      delayed_send(own_handle(), std::chrono::milliseconds(job_->buffer_timeout_ms),
                   flush_atom::value);
    }
  }

  /// Asks for a tick when an operator wants time advanced (a periodic
  /// watermark, a processing-time timer), unless an earlier one is due.
  void schedule_tick() {
    if (phase_ != Phase::running) return;
    const auto wakeup = body_->next_wakeup();
    if (!wakeup || (tick_pending_ && tick_at_ <= *wakeup)) return;
    tick_pending_ = true;
    tick_at_ = *wakeup;
    const int64_t delay = std::max<int64_t>(0, *wakeup - detail::TaskTime::wall_clock_ms());
    delayed_send(own_handle(), std::chrono::milliseconds(delay), tick_atom::value);
  }

  // -- the end -------------------------------------------------------------------

  /// Every input ended (or the source did): close the operators, ship what is
  /// left, then end-of-stream on every output once its pending batches are out.
  void finish() {
    if (!body_->async_idle()) {
      // Calls are in flight: their results go out before end-of-stream.
      finish_when_idle_ = true;
      body_->flush();
      schedule_tick();  // their deadlines and retries
      return;
    }
    phase_ = Phase::closing;
    body_->end_time();  // the maximal watermark: every window fires
    body_->close();
    body_->flush();
    body_->publish_counters();
    for (uint32_t slot = 0; slot < out_.size(); ++slot)
      send_marker(slot, detail::Marker{detail::Marker::Kind::end_of_stream, 0});
    maybe_complete();
  }

  void maybe_complete() {
    if (phase_ != Phase::closing) return;
    for (const auto& c : out_)
      if (!c.eos_sent) return;
    phase_ = Phase::done;
    body_.reset();
    caf::anon_send(dispatcher_, task_done_atom::value, task_id_);
    quit();
  }

  /// Runs `f`; a failure (the user's or ours) is reported and ends the task.
  template <class F>
  void run_or_fail(F&& f) {
    if (phase_ == Phase::done) return;
    try {
      f();
    } catch (const detail::OperatorFailure& e) {
      report_failure(e.operator_name, e.instance, e.message);
    } catch (const std::exception& e) {
      report_failure("task " + (body_ ? body_->name() : std::to_string(task_id_)),
                     job_->plan.tasks[task_id_].instance, e.what());
    } catch (...) {
      report_failure("task " + (body_ ? body_->name() : std::to_string(task_id_)),
                     job_->plan.tasks[task_id_].instance, "unknown exception");
    }
  }

  void report_failure(const std::string& op, int instance, const std::string& message) {
    phase_ = Phase::done;
    caf::anon_send(dispatcher_, task_fail_atom::value, task_id_, op, instance, message);
    quit();
  }

  JobSpecPtr job_;
  std::vector<caf::actor_addr> watched_;  ///< peers on other nodes
  int task_id_;
  /// Untyped: a typed actor writes to it with `anon_send` (CAF 0.17 lets it
  /// `send` only to typed actors); the Dispatcher knows tasks by their ids.
  caf::actor dispatcher_;
  Transport transport_;
  std::unique_ptr<detail::TaskBody> body_;
  Phase phase_ = Phase::created;
  std::vector<OutChannel> out_;
  std::vector<InChannel> in_;
  size_t next_input_ = 0;
  int blocked_channels_ = 0;
  /// Backpressure: how long the task has waited for credit, in all (published
  /// when a wait ends), and since when it waits now.
  uint64_t blocked_ns_ = 0;
  std::chrono::steady_clock::time_point blocked_since_;
  int32_t credit_chunk_ = 1;
  bool source_step_scheduled_ = false;
  bool paused_ = false;  ///< a paused job's source emits nothing until resumed
  bool flush_timer_pending_ = false;
  bool wake_pending_ = false;
  /// The task would end but asynchronous calls are in flight: it ends once they are in.
  bool finish_when_idle_ = false;
  bool tick_pending_ = false;
  int64_t tick_at_ = 0;  ///< when the pending tick is due (ms since the epoch)
  int idle_polls_ = 0;
  /// Feedback loops: this task's loop (-1: none), the messages it sent and
  /// consumed on the loop's channels, and whether it said its outside ended.
  int loop_ = -1;
  uint64_t loop_sent_ = 0;
  uint64_t loop_received_ = 0;
  bool loop_ready_reported_ = false;
};

}  // namespace

TaskHandle spawn_task(caf::event_based_actor* parent, JobSpecPtr job, int task_id,
                      caf::actor dispatcher) {
  return parent->spawn<TaskActor>(std::move(job), task_id, std::move(dispatcher));
}

}  // namespace sage::actors
