/*
 * The relay's fast channel: one UDP socket on the process's port, every
 * datagram one delimited Packet. Datagrams are read in batches (recvmmsg)
 * and handed to the session layer with their source; what the turn sends
 * is batched too (sendmmsg, at udp_flush).
 */
#ifndef RALLY_RELAY_UDP_H
#define RALLY_RELAY_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A datagram's source or destination. */
struct udp_addr {
    struct sockaddr_storage sa;
    socklen_t len;
};

/* The largest datagram taken in or sent. */
#define UDP_MAX_DATAGRAM 1472

/* Binds the socket (IPv6 with IPv4 mapped when the host has it); its fd for
 * epoll, or -1. */
int udp_open(int port);
/* Reads what is waiting, a batch at a time, into session_on_udp_packet. */
void udp_on_readable(void);
/* Queues a datagram (copied); the batch goes out at udp_flush, or sooner
 * when it is full. */
void udp_send(const struct udp_addr *to, const uint8_t *data, size_t len);
void udp_flush(void);

#endif
