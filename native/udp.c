/*
 * wgts_udp: UDP sockets with batched system calls (part of the wgts_tun addon).
 *
 * Node's dgram makes one system call and one JS callback per datagram. Here:
 * udpOpen():  socket + bind (dual-stack when asked), buffer sizes, UDP_GRO
 *             when asked and the kernel has it, and a probe for UDP_SEGMENT.
 * udpStart(): a libuv uv_poll_t on the fd; on readable, recvmmsg up to
 *             RECV_SLOTS at a time until EAGAIN (at most MAX_PER_WAKE
 *             datagrams). A GRO-coalesced read (UDP_GRO cmsg) is split back
 *             into its datagrams. Each recvmmsg round is copied into one
 *             ArrayBuffer and handed to onPackets(buffer, lens, meta, count)
 *             once; meta holds 44 bytes per datagram: family (4|6), the
 *             local address's family (0 = unknown, 4, 6), port
 *             (big-endian), address (16 bytes; IPv4 in the first 4, mapped
 *             addresses unwrapped), IPv6 scope id (little-endian, 0 = none),
 *             then, when the socket was opened with pktinfo, the address the
 *             datagram was sent to (16 bytes, as the source) and the index
 *             of the interface it came in on (little-endian).
 * Addresses to send to are IP literals; IPv6 may carry a scope as
 * "fe80::1%eth0" or "fe80::1%2".
 * udpSend():  datagrams to one destination, optionally from one local
 *             address (an IP_PKTINFO / IPV6_PKTINFO control message; "%N"
 *             on an IPv6 one names the interface, for link-local). When the
 *             kernel refuses that source (EINVAL/EADDRNOTAVAIL/ENODEV: the
 *             address is gone) the call goes on without it, letting the
 *             kernel choose, and udpSourceCleared() says so once.
 *             Runs of equal-sized datagrams
 *             (the last of a run may be shorter) go as one UDP_SEGMENT (GSO)
 *             message of at most MAX_SEGS segments and 64 KB; every message
 *             of the call goes through sendmmsg. Returns how many datagrams
 *             the kernel took; the rest were dropped and udpLastError() says
 *             why (EAGAIN when the send buffer is full: UDP, so no queue).
 * udpClose(): stop polling, uv_close, close(2) at once (the port is free on
 *             return), then call back.
 * Everything runs on the loop thread; scratch buffers are per thread.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

#define RECV_SLOTS 16
#define SLOT_BYTES 65536
#define MAX_PER_WAKE 512
/* A GSO/GRO buffer holds at most 128 segments (UDP_MAX_SEGMENTS on recent kernels). */
#define MAX_PARTS 128
#define ROUND_DGRAMS (RECV_SLOTS * MAX_PARTS)
#define META_BYTES 44
/* Receive control space: UDP_GRO's int plus the larger of the two pktinfo structs. */
#define RECV_CTRL (CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)))
#define MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define SEND_MSGS 64
#define SEND_IOVS 1024

typedef struct {
  napi_env env;
  int fd;
  int family;     /* AF_INET or AF_INET6 */
  int dual;       /* AF_INET6 socket that also carries IPv4 (mapped) */
  int gso;        /* UDP_SEGMENT usable */
  int gro;        /* UDP_GRO enabled */
  int pktinfo;    /* destination addresses of received datagrams are reported */
  int src_cleared; /* a send had its source address refused (udpSourceCleared) */
  int last_error; /* errno of the last dropped datagram */
  uv_poll_t poll;
  int poll_init, closing, finalized, closed;
  napi_ref self, on_packets, on_error, on_closed;
  napi_async_context actx;
} udp_t;

/* Per-thread receive scratch: RECV_SLOTS buffers of SLOT_BYTES, with their headers. */
typedef struct {
  uint8_t *slots;
  struct mmsghdr msgs[RECV_SLOTS];
  struct iovec iov[RECV_SLOTS];
  struct sockaddr_storage from[RECV_SLOTS];
  char ctrl[RECV_SLOTS][RECV_CTRL];
  uint32_t lens[ROUND_DGRAMS];
  uint8_t meta[ROUND_DGRAMS * META_BYTES];
} recv_scratch_t;

static __thread recv_scratch_t *tl_recv;

#define UCHECK(call)                                                      \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "wgts_udp: N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)


static void u_release(udp_t *u) {
  napi_env env = u->env;
  if (u->on_packets) { napi_delete_reference(env, u->on_packets); u->on_packets = NULL; }
  if (u->on_error) { napi_delete_reference(env, u->on_error); u->on_error = NULL; }
  if (u->actx) { napi_async_destroy(env, u->actx); u->actx = NULL; }
}

static void u_call(udp_t *u, napi_ref fnref, size_t argc, napi_value *argv) { wgts_call_ref(u->env, u->actx, fnref, argc, argv); }

static void u_report_error(udp_t *u, int err) { wgts_report_errno(u->env, u->actx, u->on_error, err); }

static void put_meta(uint8_t *m, const struct sockaddr_storage *ss) {
  memset(m, 0, 24);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    m[0] = 4;
    memcpy(m + 2, &a->sin_port, 2);
    memcpy(m + 4, &a->sin_addr, 4);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    memcpy(m + 2, &a->sin6_port, 2);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      m[0] = 4;
      memcpy(m + 4, a->sin6_addr.s6_addr + 12, 4);
    } else {
      m[0] = 6;
      memcpy(m + 4, &a->sin6_addr, 16);
      uint32_t scope = a->sin6_scope_id;
      m[20] = (uint8_t)scope;
      m[21] = (uint8_t)(scope >> 8);
      m[22] = (uint8_t)(scope >> 16);
      m[23] = (uint8_t)(scope >> 24);
    }
  }
}

/* The local end of one received datagram, from its pktinfo control message, into meta bytes 24..43. */
static void put_local(uint8_t *m, struct msghdr *h) {
  memset(m + 24, 0, META_BYTES - 24);
  m[1] = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    uint32_t ifindex;
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      m[1] = 4;
      memcpy(m + 24, &pi.ipi_addr, 4); /* the header's destination: the address the peer used */
      ifindex = (uint32_t)pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      if (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr)) {
        m[1] = 4;
        memcpy(m + 24, pi.ipi6_addr.s6_addr + 12, 4);
      } else {
        m[1] = 6;
        memcpy(m + 24, &pi.ipi6_addr, 16);
      }
      ifindex = pi.ipi6_ifindex;
    } else {
      continue;
    }
    m[40] = (uint8_t)ifindex;
    m[41] = (uint8_t)(ifindex >> 8);
    m[42] = (uint8_t)(ifindex >> 16);
    m[43] = (uint8_t)(ifindex >> 24);
    return;
  }
}

/* Copy one recvmmsg round (already split into datagrams) to JS. */
static void u_deliver(udp_t *u, recv_scratch_t *s, int nmsg, uint32_t ndgram, size_t bytes) {
  napi_env env = u->env;
  napi_value ab, lab, lens, mab, meta, cnt;
  void *data, *ldata, *mdata;
  if (napi_create_arraybuffer(env, bytes, &data, &ab) != napi_ok) return;
  size_t off = 0;
  for (int i = 0; i < nmsg; i++) {
    memcpy((uint8_t *)data + off, s->slots + (size_t)i * SLOT_BYTES, s->msgs[i].msg_len);
    off += s->msgs[i].msg_len;
  }
  if (napi_create_arraybuffer(env, ndgram * 4, &ldata, &lab) != napi_ok) return;
  memcpy(ldata, s->lens, ndgram * 4);
  napi_create_typedarray(env, napi_uint32_array, ndgram, lab, 0, &lens);
  if (napi_create_arraybuffer(env, ndgram * META_BYTES, &mdata, &mab) != napi_ok) return;
  memcpy(mdata, s->meta, ndgram * META_BYTES);
  napi_create_typedarray(env, napi_uint8_array, ndgram * META_BYTES, mab, 0, &meta);
  napi_create_uint32(env, ndgram, &cnt);
  napi_value argv[4] = {ab, lens, meta, cnt};
  u_call(u, u->on_packets, 4, argv);
}

static recv_scratch_t *scratch(void) {
  if (tl_recv) return tl_recv;
  recv_scratch_t *s = (recv_scratch_t *)calloc(1, sizeof *s);
  if (!s) return NULL;
  s->slots = (uint8_t *)malloc((size_t)RECV_SLOTS * SLOT_BYTES);
  if (!s->slots) { free(s); return NULL; }
  tl_recv = s;
  return s;
}

static void u_stop(udp_t *u) {
  if (u->poll_init && !uv_is_closing((uv_handle_t *)&u->poll)) uv_poll_stop(&u->poll);
}

static void u_readable(uv_poll_t *h, int status, int events) {
  udp_t *u = (udp_t *)h->data;
  napi_env env = u->env;
  napi_handle_scope scope;
  (void)events;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    u_stop(u);
    u_report_error(u, -status);
    napi_close_handle_scope(env, scope);
    return;
  }
  recv_scratch_t *s = scratch();
  if (!s) {
    u_stop(u);
    u_report_error(u, ENOMEM);
    napi_close_handle_scope(env, scope);
    return;
  }
  uint32_t total = 0;
  int err = 0;
  while (total < MAX_PER_WAKE && !u->closing) {
    for (int i = 0; i < RECV_SLOTS; i++) {
      s->iov[i].iov_base = s->slots + (size_t)i * SLOT_BYTES;
      s->iov[i].iov_len = SLOT_BYTES;
      struct msghdr *m = &s->msgs[i].msg_hdr;
      memset(m, 0, sizeof *m);
      m->msg_iov = &s->iov[i];
      m->msg_iovlen = 1;
      m->msg_name = &s->from[i];
      m->msg_namelen = sizeof s->from[i];
      if (u->gro || u->pktinfo) {
        m->msg_control = s->ctrl[i];
        m->msg_controllen = sizeof s->ctrl[i];
      }
      s->msgs[i].msg_len = 0;
    }
    int want = RECV_SLOTS;
    int n;
    do n = recvmmsg(u->fd, s->msgs, (unsigned)want, MSG_DONTWAIT, NULL); while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) err = errno;
      break;
    }
    if (n == 0) break;
    uint32_t nd = 0;
    size_t bytes = 0;
    int used = 0;
    for (int i = 0; i < n; i++) {
      uint32_t len = s->msgs[i].msg_len;
      int seg = 0;
      if (u->gro) {
        struct msghdr *m = &s->msgs[i].msg_hdr;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(&seg, CMSG_DATA(c), sizeof seg);
          }
        }
      }
      if (seg <= 0 || (uint32_t)seg >= len) seg = (int)(len ? len : 1);
      uint32_t parts = len == 0 ? 1 : (len + (uint32_t)seg - 1) / (uint32_t)seg;
      if (parts > MAX_PARTS) { parts = 1; seg = (int)len; } /* not a kernel GRO buffer: keep it whole */
      for (uint32_t p = 0; p < parts; p++) {
        uint32_t l = len == 0 ? 0 : (p + 1 < parts ? (uint32_t)seg : len - p * (uint32_t)seg);
        s->lens[nd] = l;
        put_meta(s->meta + (size_t)nd * META_BYTES, &s->from[i]);
        if (u->pktinfo) put_local(s->meta + (size_t)nd * META_BYTES, &s->msgs[i].msg_hdr);
        else memset(s->meta + (size_t)nd * META_BYTES + 24, 0, META_BYTES - 24);
        nd++;
      }
      bytes += len;
      used++;
    }
    if (nd > 0) u_deliver(u, s, used, nd, bytes);
    total += nd;
    if (n < want) break; /* the queue is drained */
  }
  if (err && !u->closing) {
    u_stop(u);
    u_report_error(u, err);
  }
  napi_close_handle_scope(env, scope);
}

static void u_poll_closed(uv_handle_t *h) {
  udp_t *u = (udp_t *)h->data;
  napi_env env = u->env;
  u->closed = 1;
  if (u->fd >= 0) { close(u->fd); u->fd = -1; }
  if (u->finalized) { free(u); return; }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_ref cb = u->on_closed;
  u->on_closed = NULL;
  if (cb) {
    u_call(u, cb, 0, NULL);
    napi_delete_reference(env, cb);
  }
  u_release(u);
  if (u->self) { napi_delete_reference(env, u->self); u->self = NULL; }
  napi_close_handle_scope(env, scope);
}

static void u_finalize(napi_env env, void *data, void *hint) {
  udp_t *u = (udp_t *)data;
  (void)env; (void)hint;
  u->finalized = 1;
  if (!u->poll_init || u->closed) {
    if (u->fd >= 0) close(u->fd);
    free(u);
    return;
  }
  if (!uv_is_closing((uv_handle_t *)&u->poll)) {
    uv_poll_stop(&u->poll);
    uv_close((uv_handle_t *)&u->poll, u_poll_closed);
  }
}

static udp_t *u_unwrap(napi_env env, napi_value v) {
  udp_t *u = NULL;
  if (napi_unwrap(env, v, (void **)&u) != napi_ok || u == NULL) {
    napi_throw_type_error(env, NULL, "wgts_udp: not a UDP handle");
    return NULL;
  }
  return u;
}

/* Parse an IP literal for this socket; returns the sockaddr length, 0 if it cannot be reached from it. */
static socklen_t u_sockaddr(udp_t *u, const char *addr, uint32_t port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, addr, &v4) == 1) {
    if (u->family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)ss;
      a->sin_family = AF_INET;
      a->sin_port = htons((uint16_t)port);
      a->sin_addr = v4;
      return sizeof *a;
    }
    if (!u->dual) return 0;
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(a->sin6_addr.s6_addr + 12, &v4, 4);
    return sizeof *a;
  }
  if (u->family != AF_INET6) return 0;
  /* "addr%scope": the scope is an interface name or index (link-local peers). */
  char host[64];
  const char *pct = strchr(addr, '%');
  uint32_t scope = 0;
  if (pct) {
    size_t hl = (size_t)(pct - addr);
    if (hl >= sizeof host || pct[1] == 0) return 0;
    memcpy(host, addr, hl);
    host[hl] = 0;
    char *end = NULL;
    unsigned long n = strtoul(pct + 1, &end, 10);
    scope = (end && *end == 0 && n <= 0xffffffffUL) ? (uint32_t)n : if_nametoindex(pct + 1);
    if (scope == 0) return 0;
    addr = host;
  }
  if (inet_pton(AF_INET6, addr, &v6) == 1) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    a->sin6_addr = v6;
    a->sin6_scope_id = scope;
    return sizeof *a;
  }
  return 0;
}

/* udpOpen(family: 4|6, address: string ('' = any), port, rcvbuf, sndbuf, gro: boolean, v6only: boolean[, pktinfo: boolean])
 *   -> handle { fd, port, gso, gro, pktinfo } */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  UCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) { napi_throw_type_error(env, NULL, "wgts_udp: udpOpen needs 7 arguments"); return NULL; }
  int32_t fam, rcv, snd;
  uint32_t port;
  bool want_gro, v6only, want_pktinfo = false;
  char addr[64];
  size_t alen = 0;
  if (napi_get_value_int32(env, argv[0], &fam) != napi_ok || (fam != 4 && fam != 6) ||
      napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok || alen >= sizeof addr - 1 ||
      napi_get_value_uint32(env, argv[2], &port) != napi_ok || port > 65535 ||
      napi_get_value_int32(env, argv[3], &rcv) != napi_ok || napi_get_value_int32(env, argv[4], &snd) != napi_ok ||
      napi_get_value_bool(env, argv[5], &want_gro) != napi_ok || napi_get_value_bool(env, argv[6], &v6only) != napi_ok) {
    napi_throw_type_error(env, NULL, "wgts_udp: udpOpen(family 4|6, address, port, rcvbuf, sndbuf, gro, v6only[, pktinfo])");
    return NULL;
  }
  if (argc >= 8 && napi_get_value_bool(env, argv[7], &want_pktinfo) != napi_ok) {
    napi_throw_type_error(env, NULL, "wgts_udp: udpOpen: pktinfo must be a boolean");
    return NULL;
  }
  int family = fam == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t slen;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (alen > 0 && inet_pton(AF_INET, addr, &a->sin_addr) != 1) return wgts_throw_errno(env, EINVAL, "bind address");
    slen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (alen > 0 && inet_pton(AF_INET6, addr, &a->sin6_addr) != 1) return wgts_throw_errno(env, EINVAL, "bind address");
    slen = sizeof *a;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return wgts_throw_errno(env, errno, "socket");
  int on = v6only ? 1 : 0;
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) {
    int e = errno; close(fd); return wgts_throw_errno(env, e, "IPV6_V6ONLY");
  }
  if (rcv > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  if (snd > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  if (bind(fd, (struct sockaddr *)&ss, slen) < 0) { int e = errno; close(fd); return wgts_throw_errno(env, e, "bind"); }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) { int e = errno; close(fd); return wgts_throw_errno(env, e, "getsockname"); }
  uint16_t bport = family == AF_INET ? ntohs(((struct sockaddr_in *)&bound)->sin_port) : ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);

  udp_t *u = (udp_t *)calloc(1, sizeof *u);
  if (!u) { close(fd); return wgts_throw_errno(env, ENOMEM, "allocate"); }
  u->env = env;
  u->fd = fd;
  u->family = family;
  u->dual = family == AF_INET6 && !v6only;
  int zero = 0;
  u->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  if (want_gro) {
    int one = 1;
    u->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
  if (want_pktinfo) {
    /* IPv4 datagrams (also those a dual-stack socket receives) report IP_PKTINFO, IPv6 ones IPV6_PKTINFO. */
    int one = 1;
    int ok4 = (family == AF_INET || u->dual) ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0 : 1;
    int ok6 = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0 : 1;
    u->pktinfo = ok4 && ok6;
  }
  napi_value obj, v;
  UCHECK(napi_create_object(env, &obj));
  UCHECK(napi_create_int32(env, fd, &v));
  UCHECK(napi_set_named_property(env, obj, "fd", v));
  UCHECK(napi_create_uint32(env, bport, &v));
  UCHECK(napi_set_named_property(env, obj, "port", v));
  UCHECK(napi_get_boolean(env, u->gso, &v));
  UCHECK(napi_set_named_property(env, obj, "gso", v));
  UCHECK(napi_get_boolean(env, u->gro, &v));
  UCHECK(napi_set_named_property(env, obj, "gro", v));
  UCHECK(napi_get_boolean(env, u->pktinfo, &v));
  UCHECK(napi_set_named_property(env, obj, "pktinfo", v));
  if (napi_wrap(env, obj, u, u_finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(u);
    napi_throw_error(env, NULL, "wgts_udp: napi_wrap failed");
    return NULL;
  }
  return obj;
}

/* udpStart(handle, onPackets(buf, lens, meta, count), onError(code, errno)) */
static napi_value js_udp_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  UCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = u_unwrap(env, argv[0]);
  if (!u) return NULL;
  if (u->fd < 0 || u->closing) return wgts_throw_errno(env, EBADF, "udpStart");
  if (u->poll_init) { napi_throw_error(env, NULL, "wgts_udp: already started"); return NULL; }
  UCHECK(napi_create_reference(env, argv[1], 1, &u->on_packets));
  UCHECK(napi_create_reference(env, argv[2], 1, &u->on_error));
  UCHECK(napi_create_reference(env, argv[0], 1, &u->self));
  napi_value res_name;
  UCHECK(napi_create_string_utf8(env, "wgts:udp", NAPI_AUTO_LENGTH, &res_name));
  UCHECK(napi_async_init(env, argv[0], res_name, &u->actx));
  uv_loop_t *loop;
  UCHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &u->poll, u->fd);
  if (r < 0) return wgts_throw_errno(env, -r, "uv_poll_init");
  u->poll.data = u;
  u->poll_init = 1;
  r = uv_poll_start(&u->poll, UV_READABLE, u_readable);
  if (r < 0) return wgts_throw_errno(env, -r, "uv_poll_start");
  return NULL;
}

/* The source-address control message of a send: IP_PKTINFO or IPV6_PKTINFO. */
#define SRC_CTRL CMSG_SPACE(sizeof(struct in6_pktinfo))

typedef struct {
  struct mmsghdr msgs[SEND_MSGS];
  struct iovec iov[SEND_IOVS];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t)) + SRC_CTRL];
    struct cmsghdr align;
  } ctrl[SEND_MSGS];
  uint32_t dgrams[SEND_MSGS]; /* datagrams in each message */
} send_scratch_t;

static __thread send_scratch_t *tl_send;

/*
 * Build the pktinfo control message that sends from `local` (an IP literal,
 * IPv6 maybe with "%ifindex") to a destination of the given kind into `buf`;
 * returns its length, 0 when `local` is empty or of the other family.
 */
static size_t u_source_cmsg(const char *local, int dst_v4, char *buf) {
  if (local[0] == 0) return 0;
  memset(buf, 0, SRC_CTRL);
  struct cmsghdr *c = (struct cmsghdr *)buf;
  struct in_addr v4;
  if (inet_pton(AF_INET, local, &v4) == 1) {
    if (!dst_v4) return 0;
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi_spec_dst = v4; /* the source; no interface: routing picks it as for any reply */
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  if (dst_v4) return 0;
  char host[64];
  const char *pct = strchr(local, '%');
  uint32_t ifindex = 0;
  if (pct) {
    size_t hl = (size_t)(pct - local);
    if (hl >= sizeof host) return 0;
    memcpy(host, local, hl);
    host[hl] = 0;
    ifindex = (uint32_t)strtoul(pct + 1, NULL, 10);
    local = host;
  }
  struct in6_pktinfo pi;
  memset(&pi, 0, sizeof pi);
  if (inet_pton(AF_INET6, local, &pi.ipi6_addr) != 1) return 0;
  pi.ipi6_ifindex = ifindex; /* link-local sources keep the interface they were learnt on */
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof pi);
  memcpy(CMSG_DATA(c), &pi, sizeof pi);
  return CMSG_SPACE(sizeof pi);
}

/* Control messages of messages k..nmsg-1: UDP_SEGMENT for those of several datagrams, then the source if any. */
static void u_set_ctrl(send_scratch_t *s, int k, int nmsg, const char *src, size_t srclen) {
  for (; k < nmsg; k++) {
    struct msghdr *m = &s->msgs[k].msg_hdr;
    size_t len = 0;
    char *buf = s->ctrl[k].buf;
    memset(buf, 0, sizeof s->ctrl[k].buf);
    if (s->dgrams[k] > 1) {
      struct cmsghdr *c = (struct cmsghdr *)buf;
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)m->msg_iov[0].iov_len;
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
      len = CMSG_SPACE(sizeof(uint16_t));
    }
    if (srclen) {
      memcpy(buf + len, src, srclen);
      len += srclen;
    }
    m->msg_control = len ? buf : NULL;
    m->msg_controllen = len;
  }
}

/* The kernel refused the source address: it is gone from this host, or its interface is (older kernels say
 * EINVAL, newer ENETUNREACH). A refusal for another reason costs only the relearning. */
static int u_source_refused(int e) { return e == EINVAL || e == EADDRNOTAVAIL || e == ENETUNREACH || e == ENODEV || e == ENXIO; }

/* Send one message as its datagrams, one sendmsg each (a GSO message the kernel refused), from `src` if set. */
static uint32_t u_send_split(udp_t *u, struct msghdr *m, const char *src, size_t srclen) {
  uint32_t sent = 0;
  for (size_t i = 0; i < m->msg_iovlen; i++) {
    /* iovecs of a GSO message are whole datagrams here: each iovec is one datagram. */
    struct msghdr one;
    memset(&one, 0, sizeof one);
    one.msg_name = m->msg_name;
    one.msg_namelen = m->msg_namelen;
    one.msg_iov = &m->msg_iov[i];
    one.msg_iovlen = 1;
    if (srclen) {
      one.msg_control = (void *)src;
      one.msg_controllen = srclen;
    }
    ssize_t r;
    do r = sendmsg(u->fd, &one, MSG_DONTWAIT); while (r < 0 && errno == EINTR);
    if (r < 0) u->last_error = errno;
    else sent++;
  }
  return sent;
}

/* udpSend(handle, address, port, packets: Uint8Array[], count[, local: string ('' = the kernel's choice)]) -> datagrams sent */
static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  UCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = u_unwrap(env, argv[0]);
  if (!u) return NULL;
  char addr[64];
  size_t alen = 0;
  uint32_t port, count;
  if (argc < 5 || napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok || alen >= sizeof addr - 1 ||
      napi_get_value_uint32(env, argv[2], &port) != napi_ok || port > 65535 || napi_get_value_uint32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "wgts_udp: udpSend(handle, address, port, packets, count[, local])");
    return NULL;
  }
  char local[64];
  size_t llen = 0;
  local[0] = 0;
  if (argc >= 6 && napi_get_value_string_utf8(env, argv[5], local, sizeof local, &llen) != napi_ok) {
    napi_throw_type_error(env, NULL, "wgts_udp: udpSend: local must be a string");
    return NULL;
  }
  napi_value out;
  if (u->fd < 0 || u->closing) {
    u->last_error = EBADF;
    UCHECK(napi_create_uint32(env, 0, &out));
    return out;
  }
  struct sockaddr_storage to;
  socklen_t tolen = u_sockaddr(u, addr, port, &to);
  if (tolen == 0) {
    u->last_error = EAFNOSUPPORT;
    UCHECK(napi_create_uint32(env, 0, &out));
    return out;
  }
  if (!tl_send) {
    tl_send = (send_scratch_t *)calloc(1, sizeof *tl_send);
    if (!tl_send) return wgts_throw_errno(env, ENOMEM, "allocate");
  }
  send_scratch_t *s = tl_send;
  union { char buf[SRC_CTRL]; struct cmsghdr align; } srcbuf;
  size_t srclen = u_source_cmsg(local, tolen == sizeof(struct sockaddr_in) || (tolen == sizeof(struct sockaddr_in6) && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&to)->sin6_addr)), srcbuf.buf);
  uint32_t sent = 0;
  uint32_t i = 0;
  while (i < count) {
    /* Build up to SEND_MSGS messages from packets i.. */
    int nmsg = 0, niov = 0;
    while (i < count && nmsg < SEND_MSGS && niov < SEND_IOVS) {
      napi_value el;
      napi_typedarray_type type;
      size_t length = 0, offset = 0;
      void *data = NULL;
      napi_value ab;
      if (napi_get_element(env, argv[3], i, &el) != napi_ok ||
          napi_get_typedarray_info(env, el, &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
        napi_throw_type_error(env, NULL, "wgts_udp: packets must be Uint8Arrays");
        return NULL;
      }
      struct msghdr *m = &s->msgs[nmsg].msg_hdr;
      int extend = 0;
      if (nmsg > 0 && u->gso) {
        struct msghdr *prev = &s->msgs[nmsg - 1].msg_hdr;
        size_t seg = prev->msg_iov[0].iov_len;
        size_t last = prev->msg_iov[prev->msg_iovlen - 1].iov_len;
        size_t bytes = 0;
        for (size_t k = 0; k < prev->msg_iovlen; k++) bytes += prev->msg_iov[k].iov_len;
        /* Extend the previous run if it is still full-sized, this one is no bigger, and it fits. */
        extend = seg > 0 && last == seg && length > 0 && length <= seg && prev->msg_iovlen < MAX_SEGS &&
                 bytes + length <= GSO_MAX_BYTES && (struct iovec *)prev->msg_iov + prev->msg_iovlen == &s->iov[niov];
      }
      s->iov[niov].iov_base = data;
      s->iov[niov].iov_len = length;
      if (extend) {
        struct msghdr *prev = &s->msgs[nmsg - 1].msg_hdr;
        prev->msg_iovlen++;
        s->dgrams[nmsg - 1]++;
      } else {
        memset(m, 0, sizeof *m);
        m->msg_name = &to;
        m->msg_namelen = tolen;
        m->msg_iov = &s->iov[niov];
        m->msg_iovlen = 1;
        s->msgs[nmsg].msg_len = 0;
        s->dgrams[nmsg] = 1;
        nmsg++;
      }
      niov++;
      i++;
    }
    /* Messages with more than one datagram get their UDP_SEGMENT control message, all the source. */
    u_set_ctrl(s, 0, nmsg, srcbuf.buf, srclen);
    int k = 0;
    while (k < nmsg) {
      int r;
      do r = sendmmsg(u->fd, s->msgs + k, (unsigned)(nmsg - k), MSG_DONTWAIT); while (r < 0 && errno == EINTR);
      if (r > 0) {
        for (int j = k; j < k + r; j++) sent += s->dgrams[j];
        k += r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        /* The send buffer is full: drop the rest of the call, as the kernel would drop a datagram. */
        u->last_error = e;
        goto done;
      }
      if (srclen && u_source_refused(e)) {
        /* The source address is gone: let the kernel choose from here on (the caller learns it again). */
        srclen = 0;
        u->src_cleared = 1;
        u_set_ctrl(s, k, nmsg, srcbuf.buf, 0);
        continue;
      }
      struct msghdr *m = &s->msgs[k].msg_hdr;
      if (s->dgrams[k] > 1 && (e == EIO || e == EINVAL || e == EOPNOTSUPP || e == EMSGSIZE)) {
        /* GSO refused (no checksum offload on the route, a segment above the path MTU...): one by one. */
        if (e == EIO || e == EOPNOTSUPP) u->gso = 0;
        sent += u_send_split(u, m, srcbuf.buf, srclen);
      } else {
        u->last_error = e;
      }
      k++;
    }
  }
done:
  UCHECK(napi_create_uint32(env, sent, &out));
  return out;
}

/* The handle of a call whose only argument is one (NULL, with an exception pending, otherwise). */
static udp_t *u_only_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "wgts_udp: expected a UDP handle");
    return NULL;
  }
  return u_unwrap(env, argv[0]);
}

/* udpLastError(handle) -> errno of the last datagram dropped (0 = none), and resets it */
static napi_value js_udp_last_error(napi_env env, napi_callback_info info) {
  napi_value out;
  udp_t *u = u_only_arg(env, info);
  if (!u) return NULL;
  int e = u->last_error;
  u->last_error = 0;
  if (e == 0) { UCHECK(napi_get_null(env, &out)); return out; }
  UCHECK(napi_create_string_utf8(env, wgts_errname(e), NAPI_AUTO_LENGTH, &out));
  return out;
}

/* udpSourceCleared(handle) -> whether a send since the last call dropped a refused source address (and resets it) */
static napi_value js_udp_source_cleared(napi_env env, napi_callback_info info) {
  napi_value out;
  udp_t *u = u_only_arg(env, info);
  if (!u) return NULL;
  int c = u->src_cleared;
  u->src_cleared = 0;
  UCHECK(napi_get_boolean(env, c, &out));
  return out;
}

/* udpClose(handle, onClosed()) */
static napi_value js_udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  UCHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udp_t *u = u_unwrap(env, argv[0]);
  if (!u) return NULL;
  if (u->closing) { napi_throw_error(env, NULL, "wgts_udp: already closing"); return NULL; }
  u->closing = 1;
  if (!u->poll_init) {
    uv_loop_t *loop;
    UCHECK(napi_get_uv_event_loop(env, &loop));
    int r = uv_poll_init(loop, &u->poll, u->fd);
    if (r < 0) {
      close(u->fd);
      u->fd = -1;
      napi_value recv, res;
      napi_get_undefined(env, &recv);
      napi_call_function(env, recv, argv[1], 0, NULL, &res);
      return NULL;
    }
    u->poll.data = u;
    u->poll_init = 1;
    UCHECK(napi_create_reference(env, argv[0], 1, &u->self));
    napi_value res_name;
    UCHECK(napi_create_string_utf8(env, "wgts:udp", NAPI_AUTO_LENGTH, &res_name));
    UCHECK(napi_async_init(env, argv[0], res_name, &u->actx));
  }
  UCHECK(napi_create_reference(env, argv[1], 1, &u->on_closed));
  uv_poll_stop(&u->poll);
  uv_close((uv_handle_t *)&u->poll, u_poll_closed);
  /* uv_close has already taken the fd out of the loop: close it now, so the
   * port is free at once (as dgram's close does) and a rebind can follow. */
  if (u->fd >= 0) { close(u->fd); u->fd = -1; }
  return NULL;
}

napi_value udp_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_default, NULL},
    {"udpStart", NULL, js_udp_start, NULL, NULL, NULL, napi_default, NULL},
    {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_default, NULL},
    {"udpLastError", NULL, js_udp_last_error, NULL, NULL, NULL, napi_default, NULL},
    {"udpSourceCleared", NULL, js_udp_source_cleared, NULL, NULL, NULL, napi_default, NULL},
    {"udpClose", NULL, js_udp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
