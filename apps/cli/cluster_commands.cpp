// `sage cluster ...`: `start` (cluster_start.cpp), and the head's status and stop
// through actors/cluster.hpp.

#include "cluster_commands.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include <sage/actors/cluster.hpp>

#include "cluster_start.hpp"
#include "json.hpp"

namespace sage::cli {

namespace {

using sage::actors::ClusterStatus;

void print_status(const ClusterStatus& s, const std::string& format, bool authenticated) {
  if (format == "json") {
    Json nodes = Json::array();
    for (const auto& n : s.nodes) {
      Json labels = Json::object();
      for (const auto& [key, value] : n.info.labels) labels[key] = value;
      Json node = {{"address", n.info.host + ":" + std::to_string(n.info.port)},
                   {"role", actors::to_string(n.info.role)},
                   {"cpus", n.info.cpus},
                   {"memory_mb", n.info.memory_mb},
                   {"gpus", n.info.gpus},
                   {"labels", labels},
                   {"running_tasks", n.running_tasks},
                   {"used_cpus", n.used_cpus},
                   {"used_memory_mb", n.used_memory_mb},
                   {"used_gpus", n.used_gpus},
                   {"state", n.alive ? "alive" : "lost"}};
      if (!n.alive) node["lost_reason"] = n.lost_reason;
      nodes.push_back(std::move(node));
    }
    Json jobs = Json::array();
    for (const auto& job : s.jobs)
      jobs.push_back({{"id", job.id}, {"name", job.name}, {"state", job.state}});
    std::cout << to_line({{"authenticated", authenticated},
                          {"nodes", nodes},
                          {"unregistered", s.unregistered},
                          {"jobs", jobs}})
              << "\n";
    return;
  }
  if (!authenticated)
    std::printf(
        "WARNING: this cluster was started --insecure: it authenticates nobody, and any local "
        "user can run code on it as the user who started it\n\n");
  std::printf("%-22s %-7s %6s %10s %5s %6s %-6s %s\n", "NODE", "ROLE", "CPUS", "MEMORY", "GPUS",
              "TASKS", "STATE", "LABELS");
  for (const auto& n : s.nodes) {
    std::string labels;
    for (const auto& [k, v] : n.info.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    const std::string address = n.info.host + ":" + std::to_string(n.info.port);
    std::printf("%-22s %-7s %6g %8lldMB %5d %6d %-6s %s\n", address.c_str(),
                actors::to_string(n.info.role).c_str(), n.info.cpus,
                static_cast<long long>(n.info.memory_mb), n.info.gpus, n.running_tasks,
                n.alive ? "alive" : "lost", labels.c_str());
  }
  if (!s.unregistered.empty()) {
    std::string list;
    for (const auto& a : s.unregistered) list += (list.empty() ? "" : " ") + a;
    std::printf("not registered with this head yet (workers of an earlier one): %s\n",
                list.c_str());
  }
  std::printf("\n%zu job(s)\n", s.jobs.size());
  for (const auto& j : s.jobs)
    std::printf("  %s  %-10s %s\n", j.id.c_str(), j.state.c_str(), j.name.c_str());
}

}  // namespace

Dispatch add_cluster_commands(CLI::App& app, HeadFlags& head) {
  auto* cluster = app.add_subcommand("cluster", "start, inspect and stop cluster nodes");
  cluster->require_subcommand(1);

  const Dispatch start = add_cluster_start(cluster, head);

  // -- cluster status / stop -------------------------------------------------------------
  auto format = std::make_shared<std::string>("table");
  auto* status =
      cluster->add_subcommand("status", "nodes (address, resources, alive or lost) and jobs");
  add_head_options(status, head);
  add_format_option(status, *format);
  auto all = std::make_shared<bool>(false);
  auto* stop = cluster->add_subcommand("stop", "stop the head (and with --all, every worker)");
  add_head_options(stop, head);
  stop->add_flag("--all", *all, "stop every worker too");

  return [=, &head]() -> std::optional<int> {
    if (const auto rc = start()) return rc;
    if (status->parsed()) {
      const auto h = head.resolve();
      print_status(sage::actors::query_status(h.host, h.port, h.tls), *format, h.tls.enabled());
      return 0;
    }
    if (stop->parsed()) {
      const auto h = head.resolve();
      sage::actors::stop_cluster(h.host, h.port, *all, h.tls);
      std::cout << "sage: stopped the head at " << h.host << ":" << h.port
                << (*all ? " and its workers" : "") << "\n";
      return 0;
    }
    return std::nullopt;
  };
}

}  // namespace sage::cli
