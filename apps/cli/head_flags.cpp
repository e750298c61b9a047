// The `sage` commands' shared flags: the head's address and the credentials.

#include "head_flags.hpp"

#include <cstdlib>

#include <CLI/CLI.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/actors/credentials.hpp>
#include <sage/detail/environment_variables.hpp>

namespace sage::cli {

actors::HeadAddress parse_address(const std::string& text) {
  const auto parsed = actors::parse_host_port(text, detail::default_head_port);
  if (!parsed) throw CLI::ValidationError("address", "cannot read '" + text + "' as HOST:PORT");
  actors::HeadAddress a;
  a.host = parsed->host;
  a.port = parsed->port;
  return a;
}

actors::TlsFiles HeadFlags::credentials() const {
  return actors::find_credentials(tls_dir, secret_file, insecure);
}

actors::HeadAddress HeadFlags::resolve() const {
  actors::HeadAddress head;
  if (!address.empty())
    head = parse_address(address);
  else if (const char* env = std::getenv(detail::env::address); env != nullptr && *env != 0)
    head = parse_address(env);
  head.tls = credentials();
  return head;
}

void add_credential_options(CLI::App* cmd, HeadFlags& head) {
  cmd->add_option("--secret-file", head.secret_file,
                  "the cluster secret (SAGE_SECRET_FILE, else ~/.sage/cluster.secret)");
  cmd->add_option("--tls-dir", head.tls_dir,
                  "mutual TLS: a directory with ca.crt, node.crt, node.key (SAGE_TLS_DIR)");
  cmd->add_flag("--insecure", head.insecure, "connect without credentials (an --insecure cluster)");
}

void add_head_options(CLI::App* cmd, HeadFlags& head) {
  cmd->add_option("--address", head.address, "the head's HOST:PORT");
  add_credential_options(cmd, head);
}

void add_format_option(CLI::App* cmd, std::string& format) {
  cmd->add_option("--format", format, "table or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json"}));
}

void add_job_id_option(CLI::App* cmd, std::string& id) {
  cmd->add_option("id", id, "the job's id or a unique prefix")->required();
}

}  // namespace sage::cli
