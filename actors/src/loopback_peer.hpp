// Whether a connection may carry BASP in plain after the cluster secret's
// handshake: only if its peer is a process of this user on this machine.
// (secure_transport.cpp asks; docs/operations.md, "Security".)
#pragma once

#include <string>

namespace sage::actors {

/// Empty if the peer of the connected TCP socket `fd` is on loopback and its
/// socket belongs to this process's user; else why a plaintext session is not
/// allowed ("connections from other hosts must use TLS", "... from processes
/// of other users ..."). Looked up in the kernel's socket table
/// (NETLINK_SOCK_DIAG): on loopback, a user who listens on a port another
/// member dials (a restarting node's, a dead task host's) could otherwise relay
/// the handshake and then read and write the plain connection; through TLS such
/// a relay sees only ciphertext.
std::string plaintext_refusal(int fd);

}  // namespace sage::actors
