// The `sage` command (../shared/spec/CLI.md): starts and stops cluster nodes and
// asks the head about them. Everything it does goes through actors/cluster.hpp.
//
//   sage cluster start --head [--port 19001] [--bind 127.0.0.1] [--state-dir ~/.sage]
//                      [--foreground]
//   sage cluster start --worker --head-address HOST:PORT [--cpus N] [--memory SIZE]
//                      [--gpus N] [--label K=V]... [--port 0] [--bind 127.0.0.1]
//                      [--state-dir DIR] [--foreground]
//   sage cluster status [--address HOST:PORT] [--format table|json]
//   sage cluster stop [--all] [--address HOST:PORT]
//   sage job submit ./app [args...]
//   sage job list [--format table|json]
//   sage job status ID [--format table|json]
//   sage job stop|cancel|pause|resume|delete ID
//   sage job logs ID [--tail N] [--follow]
//   sage run ./app [args...]
//
// The head's address comes from --address, else SAGE_ADDRESS, else 127.0.0.1:19001.
// The subcommands are declared by their groups: cluster_commands (cluster ...),
// job_commands (job ... and run); head_flags holds the flags they share.

#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cluster_commands.hpp"
#include "head_flags.hpp"
#include "job_commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"SAGE: a streaming dataflow runtime. Start a cluster, inspect it, stop it."};
  app.require_subcommand(1);
  sage::cli::HeadFlags head;  // --address and the credentials, shared by the subcommands
  const sage::cli::Dispatch cluster = sage::cli::add_cluster_commands(app, head);
  const sage::cli::Dispatch job = sage::cli::add_job_commands(app, head);
  const sage::cli::Dispatch run = sage::cli::add_run_command(app);

  CLI11_PARSE(app, argc, argv);

  if (const auto rc = run()) return *rc;  // returns only when the program could not start
  try {
    if (const auto rc = cluster()) return *rc;
    if (const auto rc = job()) return *rc;
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "sage: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
