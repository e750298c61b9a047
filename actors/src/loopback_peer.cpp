// Whether a connection's peer is a process of this user on this machine: the
// peer's socket looked up in the kernel's socket table by its four-tuple.

#include "loopback_peer.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace sage::actors {

namespace {

/// A socket address as IPv4 when it is one (mapped into IPv6 or not).
struct Endpoint {
  bool v4 = false;
  in_addr addr4{};
  in6_addr addr6{};
  uint16_t port = 0;  ///< network order
};

std::optional<Endpoint> endpoint_of(const sockaddr_storage& s) {
  Endpoint e;
  if (s.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(s);
    e.v4 = true;
    e.addr4 = a.sin_addr;
    e.port = a.sin_port;
    return e;
  }
  if (s.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(s);
    e.port = a.sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      e.v4 = true;
      std::memcpy(&e.addr4, a.sin6_addr.s6_addr + 12, 4);
    } else {
      e.addr6 = a.sin6_addr;
    }
    return e;
  }
  return std::nullopt;
}

bool on_loopback(const Endpoint& e) {
  if (e.v4) return (ntohl(e.addr4.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&e.addr6);
}

/// `e` as the 16 bytes of an inet_diag address of `family`.
void put_address(__be32 (&out)[4], const Endpoint& e, int family) {
  std::memset(out, 0, sizeof out);
  if (family == AF_INET) {
    std::memcpy(out, &e.addr4, 4);
  } else if (e.v4) {  // ::ffff:a.b.c.d
    auto* bytes = reinterpret_cast<unsigned char*>(out);
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, &e.addr4, 4);
  } else {
    std::memcpy(out, &e.addr6, 16);
  }
}

/// The uid owning the TCP socket whose local end is `local` and remote end
/// `remote`, as a socket of `family`; nullopt if the kernel knows none.
std::optional<uint32_t> socket_owner(const Endpoint& local, const Endpoint& remote, int family) {
  const int nl = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return std::nullopt;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.request.sdiag_family = static_cast<__u8>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~0U;
  message.request.id.idiag_sport = local.port;
  message.request.id.idiag_dport = remote.port;
  put_address(message.request.id.idiag_src, local, family);
  put_address(message.request.id.idiag_dst, remote, family);
  message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  std::optional<uint32_t> owner;
  if (::send(nl, &message, sizeof message, 0) == static_cast<ssize_t>(sizeof message)) {
    alignas(nlmsghdr) char reply[8192];
    const ssize_t n = ::recv(nl, reply, sizeof reply, 0);
    const auto* h = reinterpret_cast<const nlmsghdr*>(reply);
    // One answer: the socket, or NLMSG_ERROR when there is none.
    if (n > 0 && NLMSG_OK(h, static_cast<unsigned>(n)) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        h->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg)))
      owner = static_cast<const inet_diag_msg*>(NLMSG_DATA(h))->idiag_uid;
  }
  ::close(nl);
  return owner;
}

}  // namespace

std::string plaintext_refusal(int fd) {
  sockaddr_storage mine{};
  sockaddr_storage theirs{};
  socklen_t mine_len = sizeof mine;
  socklen_t theirs_len = sizeof theirs;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&theirs), &theirs_len) != 0)
    return "connections whose peer is unknown must use TLS";
  const auto local = endpoint_of(mine);
  const auto peer = endpoint_of(theirs);
  if (!local || !peer || !on_loopback(*peer)) return "connections from other hosts must use TLS";
  // The peer's socket: its local end is our remote end. Its family is its own
  // (a dual-stack listener's sockets are IPv6 with mapped IPv4 addresses).
  std::optional<uint32_t> owner;
  if (peer->v4) owner = socket_owner(*peer, *local, AF_INET);
  if (!owner) owner = socket_owner(*peer, *local, AF_INET6);
  if (!owner) return "connections whose peer's socket cannot be looked up must use TLS";
  if (*owner != ::geteuid()) return "connections from processes of other users must use TLS";
  return {};
}

}  // namespace sage::actors
