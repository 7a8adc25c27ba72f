// One recvmsg that also returns the kernel's count of bytes still queued on the socket
// (TCP_INQ, once the socket option is set): the relay's plain reads and the TLS stream's
// BIO both read this way, so that a read knows whether it emptied the socket.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace pglc::proxy {

// recvmsg's result, retried on EINTR (errno as recvmsg left it when negative). `queued`
// becomes the count after a read of bytes, or -1 when none came with it (no TCP_INQ).
inline ssize_t recv_counting(int fd, void* buf, std::size_t len, int& queued) {
  iovec iov{buf, len};
#ifdef TCP_INQ
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
#endif
  for (;;) {
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
#ifdef TCP_INQ
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
#endif
    const ssize_t n = ::recvmsg(fd, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    queued = -1;
#ifdef TCP_INQ
    if (n > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ)
          std::memcpy(&queued, CMSG_DATA(c), sizeof queued);
      }
    }
#endif
    return n;
  }
}

}  // namespace pglc::proxy
