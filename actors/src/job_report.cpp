#include <sage/actors/job_report.hpp>

#include <sage/detail/job_handle.hpp>

namespace sage::actors {

JobReport make_report(const JobPlan& plan, const std::vector<uint64_t>& counters,
                      const std::vector<std::string>& node_of_task, int64_t run_time_ms,
                      const std::vector<std::string>& node_of_service) {
  constexpr size_t stride = detail::counters_per_instance;
  JobReport r;
  r.id = plan.id;
  r.name = plan.name;
  r.counters = counters;
  std::vector<int32_t> parallelism(plan.operators.size(), 0);
  for (const auto& t : plan.tasks)
    for (int32_t op : t.operators) parallelism[op] = std::max(parallelism[op], t.instance + 1);
  // Where each operator's instances start in the flattened counters.
  std::vector<size_t> offset(plan.operators.size(), 0);
  for (size_t op = 0, at = 0; op < plan.operators.size(); ++op) {
    offset[op] = at;
    at += stride * static_cast<size_t>(parallelism[op]);
  }
  const bool have =
      !counters.empty() && offset.size() > 0 &&
      counters.size() >=
          offset.back() + stride * static_cast<size_t>(parallelism.back());  // services follow
  auto at = [&](int32_t op, int32_t i, size_t k) -> uint64_t {
    return have ? counters[offset[op] + stride * static_cast<size_t>(i) + k] : 0;
  };
  auto in = [&](int32_t op, int32_t i) { return at(op, i, 0); };
  auto out = [&](int32_t op, int32_t i) { return at(op, i, 1); };
  for (size_t op = 0; op < plan.operators.size(); ++op) {
    OperatorReport o;
    o.name = plan.operators[op];
    o.parallelism = parallelism[op];
    const auto o_id = static_cast<int32_t>(op);
    for (int32_t i = 0; i < parallelism[op]; ++i) {
      o.records_in += in(o_id, i);
      o.records_out += out(o_id, i);
      o.records_late_dropped += at(o_id, i, detail::counter_late_dropped);
      const auto wm = static_cast<int64_t>(at(o_id, i, detail::counter_watermark));
      if (!have) continue;
      if (i == 0 || wm < o.watermark) {  // the slowest instance, and what holds it back
        o.watermark = wm;
        const uint64_t ch = at(o_id, i, detail::counter_holding_channel);
        o.watermark_held_by.clear();
        if (ch > 0 && ch <= plan.channels.size()) {
          const auto& c = plan.channels[ch - 1];
          const auto from = static_cast<size_t>(c.from_task);
          o.watermark_held_by =
              c.producer + "_" +
              std::to_string(from < plan.tasks.size() ? plan.tasks[from].instance : 0);
        }
      }
    }
    r.operators.push_back(std::move(o));
  }
  for (size_t t = 0; t < plan.tasks.size(); ++t) {
    const auto& task = plan.tasks[t];
    TaskReport tr;
    tr.chain = task.chain;
    tr.instance = task.instance;
    tr.node = t < node_of_task.size() ? node_of_task[t] : std::string{};
    if (!task.operators.empty()) {
      tr.records_in = in(task.operators.front(), task.instance);
      tr.records_out = out(task.operators.back(), task.instance);
      if (run_time_ms > 0)
        tr.backpressure =
            std::min(1.0, static_cast<double>(at(task.operators.front(), task.instance, 2)) /
                              (static_cast<double>(run_time_ms) * 1e6));
    }
    r.tasks.push_back(std::move(tr));
  }
  // Services, by registration (their instances come in order); their counters
  // follow the operators', `counters_per_service` each.
  const size_t services_at =
      offset.empty() ? 0 : offset.back() + stride * static_cast<size_t>(parallelism.back());
  for (size_t s = 0; s < plan.services.size(); ++s) {
    const auto& instance = plan.services[s];
    if (r.services.empty() || r.services.back().name != instance.chain) {
      ServiceReport sr;
      sr.name = instance.chain;
      const size_t at_counter =
          services_at + detail::counters_per_service * static_cast<size_t>(instance.service);
      if (instance.service >= 0 && counters.size() >= at_counter + detail::counters_per_service) {
        sr.calls = counters[at_counter];
        sr.restarts = counters[at_counter + 1];
      }
      r.services.push_back(std::move(sr));
    }
    auto& sr = r.services.back();
    ++sr.parallelism;
    sr.nodes.push_back(s < node_of_service.size() ? node_of_service[s] : std::string{});
  }
  return r;
}

}  // namespace sage::actors
