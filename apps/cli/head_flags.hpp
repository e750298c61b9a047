#pragma once
// What the `sage` commands that talk to a head share: its address (--address, else
// SAGE_ADDRESS, else 127.0.0.1:19001) and the credentials presented to it
// (--secret-file, --tls-dir, --insecure), and how a command group hands main its work.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <sage/actors/job_client.hpp>

namespace CLI {
class App;
}

namespace sage::cli {

/// After parsing: runs the subcommand the command line chose and returns its exit
/// status, or nullopt when it chose none of the group that returned this.
using Dispatch = std::function<std::optional<int>()>;

/// The flags every command that talks to a cluster has (bound by CLI11: keep it
/// where it is until the command ran). `cluster start` binds the credentials too.
struct HeadFlags {
  std::string address;  // HOST:PORT, empty: SAGE_ADDRESS or the default
  std::string tls_dir;
  std::string secret_file;
  bool insecure = false;

  /// The credentials: --tls-dir, --secret-file, SAGE_TLS_DIR, SAGE_SECRET_FILE,
  /// ~/.sage/cluster.secret; none with --insecure.
  [[nodiscard]] actors::TlsFiles credentials() const;
  /// The head's address, then the credentials to present to it.
  [[nodiscard]] actors::HeadAddress resolve() const;
};

/// "HOST:PORT" (the port may be omitted: 19001); a CLI::ValidationError otherwise.
actors::HeadAddress parse_address(const std::string& text);

/// --secret-file, --tls-dir and --insecure, as every command that talks to a cluster
/// presents them.
void add_credential_options(CLI::App* cmd, HeadFlags& head);

/// --address and the credential options.
void add_head_options(CLI::App* cmd, HeadFlags& head);

/// --format table|json (default: what `format` holds).
void add_format_option(CLI::App* cmd, std::string& format);

/// The positional `id`: a job's id or a unique prefix, required.
void add_job_id_option(CLI::App* cmd, std::string& id);

}  // namespace sage::cli
