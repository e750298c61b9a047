// The job plan: built from a compiled job, fingerprinted, placed on nodes.
// Plain data and plain functions: nothing here talks to an actor.

#include <sage/actors/job_plan.hpp>

#include <algorithm>
#include <charconv>
#include <sstream>

#include <sage/detail/job_handle.hpp>

namespace sage::actors {

JobPlan describe_job(const detail::JobSpec& job) {
  JobPlan out;
  out.id = job.id.str();
  out.name = job.name;
  out.placement = job.config->get_string("placement", "local");
  for (const auto& node : job.graph.nodes) {
    out.operators.push_back(node->name);
    out.contents.push_back(node->describe_contents ? node->describe_contents() : std::string{});
  }
  const auto& plan = job.plan;
  for (const auto& task : plan.tasks) {
    const auto& chain = plan.chains[task.chain];
    PlannedTask t;
    t.chain = chain.name;
    t.instance = task.instance;
    t.input_slots = static_cast<uint32_t>(task.inputs.size());
    t.output_slots = static_cast<uint32_t>(task.output_slot_count);
    for (int n : chain.nodes) {
      const auto& node = *job.graph.nodes[n];
      t.operators.push_back(n);
      t.cpus += node.resources.cpus;
      t.memory_mb += node.resources.memory_mb;
      t.gpus += node.resources.gpus;
      for (const auto& [k, v] : node.resources.labels) t.labels[k] = v;
      if (node.kind == detail::NodeKind::sink && node.kind_name == "collect") t.at_submitter = true;
    }
    t.is_source = job.graph.nodes[chain.nodes.front()]->kind == detail::NodeKind::source;
    out.tasks.push_back(std::move(t));
  }
  for (const auto& ch : plan.channels) {
    const auto& producer = *job.graph.nodes[job.graph.edges[ch.edge].from];
    out.channels.push_back(PlannedChannel{ch.from_task, static_cast<uint32_t>(ch.from_slot),
                                          ch.to_task, static_cast<uint32_t>(ch.to_slot),
                                          producer.name, producer.output_type_name(),
                                          producer.output_has_codec()});
  }
  out.fingerprint = fingerprint(out);
  return out;
}

std::vector<std::string> describe_lines(const JobPlan& plan) {
  std::vector<std::string> lines;
  lines.push_back("job \"" + plan.name + "\"");
  for (size_t op = 0; op < plan.operators.size(); ++op) {
    std::string line = "operator \"" + plan.operators[op] + "\"";
    if (op < plan.contents.size() && !plan.contents[op].empty())
      line += " holding " + plan.contents[op];
    lines.push_back(std::move(line));
  }
  for (const auto& t : plan.tasks) {
    std::ostringstream line;
    line << "task \"" << t.chain << "\" instance " << t.instance << ", " << t.input_slots
         << " inputs, " << t.output_slots << " outputs"
         << (t.at_submitter ? ", at the submitter" : "") << ", operators";
    for (int32_t op : t.operators) line << ' ' << op;
    lines.push_back(line.str());
  }
  for (const auto& c : plan.channels) {
    std::ostringstream line;
    line << "channel " << c.from_task << ':' << c.from_slot << " -> " << c.to_task << ':'
         << c.to_slot << " of \"" << c.producer << "\" (" << c.type_name
         << (c.has_codec ? "" : ", no codec") << ')';
    lines.push_back(line.str());
  }
  return lines;
}

uint64_t fingerprint(const JobPlan& plan) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const auto& line : describe_lines(plan)) {
    for (unsigned char c : line) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= '\n';
    h *= 1099511628211ULL;
  }
  return h;
}

std::string first_difference(const std::vector<std::string>& here,
                             const std::vector<std::string>& there) {
  for (size_t i = 0; i < std::max(here.size(), there.size()); ++i) {
    if (i < here.size() && i < there.size() && here[i] == there[i]) continue;
    const std::string mine = i < here.size() ? here[i] : "nothing";
    const std::string theirs = i < there.size() ? there[i] : "nothing";
    return "here " + mine + ", where it was submitted " + theirs;
  }
  return {};
}

std::optional<HostPort> parse_host_port(const std::string& text,
                                        std::optional<uint16_t> default_port) {
  const auto colon = text.rfind(':');
  HostPort out{text.substr(0, colon), default_port.value_or(0)};
  if (colon != std::string::npos) {
    unsigned port = 0;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto parsed = std::from_chars(first, last, port);
    if (parsed.ec != std::errc{} || parsed.ptr != last || port == 0 || port > 65535)
      return std::nullopt;
    out.port = static_cast<uint16_t>(port);
  } else if (!default_port) {
    return std::nullopt;
  }
  if (out.host.empty()) return std::nullopt;
  return out;
}

std::string describe(const NodeInfo& info) {
  if (info.host.empty()) return info.role.empty() ? "an in-process node" : info.role + " node";
  return (info.role.empty() ? std::string("node") : info.role) + " " + info.host + ":" +
         std::to_string(info.port);
}

JobReport make_report(const JobPlan& plan, const std::vector<uint64_t>& counters,
                      const std::vector<std::string>& node_of_task, int64_t run_time_ms) {
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
      counters.size() == offset.back() + stride * static_cast<size_t>(parallelism.back());
  auto at = [&](int32_t op, int32_t i, size_t k) -> uint64_t {
    return have ? counters[offset[op] + stride * static_cast<size_t>(i) + k] : 0;
  };
  auto in = [&](int32_t op, int32_t i) { return at(op, i, 0); };
  auto out = [&](int32_t op, int32_t i) { return at(op, i, 1); };
  for (size_t op = 0; op < plan.operators.size(); ++op) {
    OperatorReport o;
    o.name = plan.operators[op];
    o.parallelism = parallelism[op];
    for (int32_t i = 0; i < parallelism[op]; ++i) {
      o.records_in += in(static_cast<int32_t>(op), i);
      o.records_out += out(static_cast<int32_t>(op), i);
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
  return r;
}

namespace {

std::string describe_node(const PlacementNode& n) {
  return n.is_submitter ? std::string("the submitting program") : describe(n.info);
}

/// Why `task` does not fit on `node` given what is already taken there, or "".
std::string misfit(const PlannedTask& task, const PlacementNode& node, double cpus,
                   int64_t memory_mb, int32_t gpus) {
  std::ostringstream why;
  const auto sep = [&] { return why.tellp() > 0 ? ", " : ""; };
  if (!node.alive) return "lost";
  if (task.cpus > 0 && node.info.cpus - cpus < task.cpus)
    why << sep() << node.info.cpus - cpus << " cpus free";
  if (task.memory_mb > 0 && node.info.memory_mb - memory_mb < task.memory_mb)
    why << sep() << node.info.memory_mb - memory_mb << " MB free";
  if (task.gpus > 0 && node.info.gpus - gpus < task.gpus)
    why << sep() << node.info.gpus - gpus << " gpus free";
  for (const auto& [k, v] : task.labels) {
    auto it = node.info.labels.find(k);
    if (it == node.info.labels.end())
      why << sep() << "no label " << k;
    else if (it->second != v)
      why << sep() << "label " << k << "=" << it->second;
  }
  return why.str();
}

std::string demand(const PlannedTask& t) {
  std::ostringstream d;
  d << t.cpus << " cpus, " << t.memory_mb << " MB, " << t.gpus << " gpus";
  for (const auto& [k, v] : t.labels) d << ", label " << k << "=" << v;
  return d.str();
}

/// A channel between tasks on different nodes carries encoded batches: its
/// record type needs a codec. Sets `placement.error` if one has none.
void check_codecs(const JobPlan& plan, const std::vector<PlacementNode>& nodes,
                  Placement& placement) {
  for (const auto& ch : plan.channels) {
    const size_t from = placement.node_of_task[ch.from_task];
    const size_t to = placement.node_of_task[ch.to_task];
    if (from == to || ch.has_codec) continue;
    placement.error = "the records of operator \"" + ch.producer + "\" (" + ch.type_name +
                      ") would cross from " + describe_node(nodes[from]) + " to " +
                      describe_node(nodes[to]) +
                      " but have no codec: give the type an inspect overload or a sage::Codec "
                      "specialization (sage/codec.hpp), or keep both operators on one node";
    return;
  }
}

}  // namespace

std::string validate(const JobPlan& plan) {
  // Bounds far above any real job, far below what would exhaust a node.
  constexpr size_t max_tasks = 100'000, max_slots = 100'000, max_operators = 10'000;
  if (plan.id.empty() || plan.id.size() > 64 ||
      plan.id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return "a job id must be up to 64 hex digits";
  if (plan.tasks.empty() || plan.tasks.size() > max_tasks) return "no tasks, or too many";
  if (plan.operators.size() > max_operators) return "too many operators";
  if (!plan.contents.empty() && plan.contents.size() != plan.operators.size())
    return "what the operators hold does not match them";
  for (const auto& t : plan.tasks) {
    if (t.instance < 0 || t.input_slots > max_slots || t.output_slots > max_slots ||
        t.operators.empty())
      return "task \"" + t.chain + "\" is malformed";
    for (int32_t op : t.operators)
      if (op < 0 || static_cast<size_t>(op) >= plan.operators.size())
        return "task \"" + t.chain + "\" names an unknown operator";
  }
  for (const auto& c : plan.channels) {
    const auto tasks = static_cast<int64_t>(plan.tasks.size());
    if (c.from_task < 0 || c.from_task >= tasks || c.to_task < 0 || c.to_task >= tasks ||
        c.from_slot >= plan.tasks[c.from_task].output_slots ||
        c.to_slot >= plan.tasks[c.to_task].input_slots)
      return "a channel joins tasks or slots that do not exist";
  }
  return {};
}

Placement place_tasks(const JobPlan& plan, const std::vector<PlacementNode>& nodes) {
  Placement out;
  out.node_of_task.assign(plan.tasks.size(), 0);
  if (nodes.empty()) {
    out.error = "no node to run the job on";
    return out;
  }
  size_t submitter = nodes.size();
  std::vector<size_t> hosts;  // nodes that may run any task
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].is_submitter)
      submitter = n;
    else if (nodes[n].alive)
      hosts.push_back(n);
  }
  if (plan.placement == "local") {  // every task on node 0, the process's own
    for (size_t t = 0; t < plan.tasks.size(); ++t)
      if (plan.tasks[t].at_submitter && submitter < nodes.size()) out.node_of_task[t] = submitter;
    check_codecs(plan, nodes, out);
    return out;
  }
  if (hosts.empty() && submitter == nodes.size()) {
    out.error = "no alive node to run the job on";
    return out;
  }
  if (plan.placement == "spread") {
    // Chain by chain, in turn over every node (tests and benchmarks use it to
    // make channels cross nodes).
    std::vector<size_t> all;
    for (size_t n = 0; n < nodes.size(); ++n)
      if (nodes[n].alive) all.push_back(n);
    if (all.empty()) {
      out.error = "no alive node to run the job on";
      return out;
    }
    std::vector<std::string> chains;
    for (size_t t = 0; t < plan.tasks.size(); ++t) {
      auto c = std::find(chains.begin(), chains.end(), plan.tasks[t].chain);
      const size_t index = static_cast<size_t>(c - chains.begin());
      if (c == chains.end()) chains.push_back(plan.tasks[t].chain);
      if (plan.tasks[t].at_submitter && submitter == nodes.size()) {
        out.error = "task \"" + plan.tasks[t].chain + "\" must run in the submitting program";
        return out;
      }
      out.node_of_task[t] = plan.tasks[t].at_submitter ? submitter : all[index % all.size()];
    }
    check_codecs(plan, nodes, out);
    return out;
  }

  // cluster: resources and labels first, then the least loaded node.
  std::vector<double> cpus(nodes.size()), load(nodes.size());
  std::vector<int64_t> memory(nodes.size());
  std::vector<int32_t> gpus(nodes.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    cpus[n] = nodes[n].used_cpus;
    memory[n] = nodes[n].used_memory_mb;
    gpus[n] = nodes[n].used_gpus;
    load[n] = nodes[n].running_tasks;
  }
  for (size_t t = 0; t < plan.tasks.size(); ++t) {
    const auto& task = plan.tasks[t];
    if (task.at_submitter) {
      if (submitter == nodes.size()) {
        out.error = "task \"" + task.chain + "\" must run in the submitting program";
        return out;
      }
      out.node_of_task[t] = submitter;
      continue;
    }
    size_t best = nodes.size();
    double best_load = 0;
    std::string reasons;
    for (size_t n : hosts) {
      auto why = misfit(task, nodes[n], cpus[n], memory[n], gpus[n]);
      if (!why.empty()) {
        reasons += "; " + describe_node(nodes[n]) + ": " + why;
        continue;
      }
      const double per_cpu = load[n] / std::max(1.0, nodes[n].info.cpus);
      if (best == nodes.size() || per_cpu < best_load) {
        best = n;
        best_load = per_cpu;
      }
    }
    if (best == nodes.size()) {
      out.error = "cannot place \"" + task.chain + "\" instance " + std::to_string(task.instance) +
                  " (it needs " + demand(task) + ")" +
                  (hosts.empty() ? std::string("; the cluster has no alive node") : reasons);
      return out;
    }
    out.node_of_task[t] = best;
    cpus[best] += task.cpus;
    memory[best] += task.memory_mb;
    gpus[best] += task.gpus;
    load[best] += 1;
  }
  check_codecs(plan, nodes, out);
  return out;
}

}  // namespace sage::actors
