"""A packet delayer for one node: holds each packet the kernel queues to it (iptables
NFQUEUE) for `delay` ± `jitter` milliseconds, then lets it through.

Runs INSIDE a node, on the node image's python3, standard library only: it speaks
nfnetlink_queue over a raw netlink socket itself (the PyPI NetfilterQueue binding needs a
compiler and libnetfilter-queue in the image). The packet nemesis starts it detached and
kills it on heal. Jitter is uniform in [delay - jitter, delay + jitter] (never below 0),
so packets can overtake each other, as on a real network.

    python3 delayer.py QUEUE DELAY_MS JITTER_MS SEED

Protocol (linux/netfilter/nfnetlink_queue.h): a config message binds the queue and asks
for packet metadata only (NFQNL_COPY_META); each queued packet arrives as an
NFQNL_MSG_PACKET whose NFQA_PACKET_HDR carries its id; a verdict message with NF_ACCEPT
and that id releases it. Verdicts may be given in any order.
"""

import heapq
import os
import random
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def attribute(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def message(msg_type: int, queue: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type,
                       flags, seq, 0) + body


def packet_ids(data: bytes):
    """The ids of the queued packets in one datagram from the kernel."""
    offset = 0
    while offset + 16 <= len(data):
        length, msg_type, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            return
        if msg_type == NLMSG_ERROR:
            errno = -struct.unpack_from("=i", data, offset + 16)[0]
            if errno:
                raise OSError(errno, f"nfnetlink_queue: {os.strerror(errno)}")
        elif msg_type & 0xFF == NFQNL_MSG_PACKET and msg_type >> 8 == NFNL_SUBSYS_QUEUE:
            at = offset + 20                      # nlmsghdr + nfgenmsg
            end = offset + length
            while at + 4 <= end:
                alen, akind = struct.unpack_from("=HH", data, at)
                if alen < 4:
                    break
                if akind & 0x7FFF == NFQA_PACKET_HDR:
                    yield struct.unpack_from("!I", data, at + 4)[0]
                at += alen + (-alen % 4)
        offset += length + (-length % 4)


def main(queue: int, delay_ms: float, jitter_ms: float, seed: int) -> None:
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((0, 0))
    seq = 1
    bind = attribute(NFQA_CFG_CMD, struct.pack("=BxH", NFQNL_CFG_CMD_BIND, 0))
    sock.send(message(NFQNL_MSG_CONFIG, queue, bind, seq, NLM_F_REQUEST | NLM_F_ACK))
    list(packet_ids(sock.recv(65536)))              # raises on an error answer
    seq += 1
    params = attribute(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))
    sock.send(message(NFQNL_MSG_CONFIG, queue, params, seq, NLM_F_REQUEST | NLM_F_ACK))
    list(packet_ids(sock.recv(65536)))
    print(f"delayer: queue {queue}, {delay_ms} ms +- {jitter_ms} ms", flush=True)
    held: list = []                                  # (release at, tie, packet id)
    tie = 0
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, pid = heapq.heappop(held)
            seq += 1
            verdict = attribute(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))
            sock.send(message(NFQNL_MSG_VERDICT, queue, verdict, seq))
        timeout = max(0.0, held[0][0] - now) if held else 1.0
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            continue
        data = sock.recv(1 << 16)
        now = time.monotonic()
        for pid in packet_ids(data):
            hold = max(0.0, delay_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000
            tie += 1
            heapq.heappush(held, (now + hold, tie, pid))


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]))
