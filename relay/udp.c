#include "udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "session.h"

#define BATCH 64

static struct {
    int fd;
    /* Receiving: */
    uint8_t in[BATCH][UDP_MAX_DATAGRAM + 1];
    struct sockaddr_storage from[BATCH];
    struct iovec in_iov[BATCH];
    struct mmsghdr in_msg[BATCH];
    /* Sending: */
    uint8_t out[BATCH][UDP_MAX_DATAGRAM];
    struct udp_addr to[BATCH];
    struct iovec out_iov[BATCH];
    struct mmsghdr out_msg[BATCH];
    unsigned nout;
} u = {.fd = -1};

int udp_open(int port)
{
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool v6 = fd >= 0;
    if (!v6)
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int off = 0, buf = 4 * 1024 * 1024;
    if (v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    /* Bursts of a whole session's fan-out fit the kernel's buffers. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    struct sockaddr_in6 a6 = {
        .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
    struct sockaddr_in a4 = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_ANY)};
    int rc = v6 ? bind(fd, (struct sockaddr *)&a6, sizeof(a6))
                : bind(fd, (struct sockaddr *)&a4, sizeof(a4));
    if (rc < 0) {
        close(fd);
        return -1;
    }
    for (unsigned i = 0; i < BATCH; i++) {
        u.in_iov[i] = (struct iovec){u.in[i], sizeof(u.in[i])};
        u.out_iov[i].iov_base = u.out[i];
    }
    u.fd = fd;
    return fd;
}

void udp_on_readable(void)
{
    for (;;) {
        for (unsigned i = 0; i < BATCH; i++)
            u.in_msg[i].msg_hdr = (struct msghdr){.msg_name = &u.from[i],
                                                  .msg_namelen = sizeof(u.from[i]),
                                                  .msg_iov = &u.in_iov[i],
                                                  .msg_iovlen = 1};
        int n = recvmmsg(u.fd, u.in_msg, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("relay: udp receive: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            relay_stats.udp_in++;
            if ((u.in_msg[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 ||
                u.in_msg[i].msg_len > UDP_MAX_DATAGRAM) {
                relay_stats.dropped_oversize++;
                continue;
            }
            struct udp_addr from = {.sa = u.from[i], .len = u.in_msg[i].msg_hdr.msg_namelen};
            session_on_udp_datagram(&from, u.in[i], u.in_msg[i].msg_len);
        }
        if (n < BATCH)
            return;
    }
}

void udp_send(const struct udp_addr *to, const uint8_t *data, size_t len)
{
    if (len > UDP_MAX_DATAGRAM)
        return;
    if (u.nout == BATCH)
        udp_flush();
    unsigned i = u.nout++;
    memcpy(u.out[i], data, len);
    u.to[i] = *to;
    u.out_iov[i].iov_len = len;
    u.out_msg[i].msg_hdr = (struct msghdr){.msg_name = &u.to[i].sa,
                                           .msg_namelen = u.to[i].len,
                                           .msg_iov = &u.out_iov[i],
                                           .msg_iovlen = 1};
}

void udp_flush(void)
{
    unsigned done = 0;
    while (done < u.nout) {
        int n = sendmmsg(u.fd, u.out_msg + done, u.nout - done, MSG_DONTWAIT);
        if (n > 0) {
            done += (unsigned)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* A full socket buffer or an unreachable peer: fast messages may
         * be lost; this one is, and the rest of the batch goes on. */
        done++;
    }
    u.nout = 0;
}
