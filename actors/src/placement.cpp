// Placement: which node each task of a job runs on (placement.hpp).

#include <sage/actors/placement.hpp>

#include <algorithm>

namespace sage::actors {

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
  if (plan.placement == detail::PlacementMode::local) {  // every task on node 0, the process's own
    for (size_t t = 0; t < plan.tasks.size(); ++t)
      if (plan.tasks[t].at_submitter && submitter < nodes.size()) out.node_of_task[t] = submitter;
    check_codecs(plan, nodes, out);
    return out;
  }
  if (hosts.empty() && submitter == nodes.size()) {
    out.error = "no alive node to run the job on";
    return out;
  }
  if (plan.placement == detail::PlacementMode::spread) {
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
