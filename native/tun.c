/*
 * wgts_tun: a small N-API addon for Linux TUN devices and SO_MARK.
 *
 * open():  /dev/net/tun (O_NONBLOCK) + TUNSETIFF IFF_TUN|IFF_NO_PI, optionally
 *          inside another network namespace (setns there and back, on the
 *          calling thread only), plus an AF_INET control socket in the same
 *          namespace for the MTU ioctls.
 * openFd(): adopt a TUN fd someone else opened (WG_TUN_FD, a daemonizing
 *          parent): made non-blocking and close-on-exec, named by TUNGETIFF.
 * Handles carry { name, fd }; the fd is for handing the device to a child.
 * start(): a libuv uv_poll_t on the fd; on readable, read(2) until EAGAIN (at
 *          most MAX_PER_WAKE packets), copy them into one ArrayBuffer per batch
 *          and call onPackets(buffer, lengths, count) once per batch.
 * write(): one write(2) per packet on the loop thread (TUN writes never block:
 *          the kernel takes the packet or refuses it at once).
 * close(): stop polling, uv_close, then close(2) both fds and call back.
 * setSockMark()/getSockMark(): setsockopt/getsockopt SO_MARK on a socket fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"

#define SCRATCH_BYTES 65536
#define BATCH_BYTES (256 * 1024)
#define BATCH_MAX 64
#define MAX_PER_WAKE 256

typedef struct {
  napi_env env;
  int fd;
  int ctl;
  char name[IFNAMSIZ];
  uv_poll_t poll;
  int poll_init;  /* uv_poll_init done */
  int closing;    /* close requested */
  int finalized;  /* JS wrapper gone: free in close_cb */
  int closed;     /* uv_close completed */
  napi_ref self;
  napi_ref on_packets;
  napi_ref on_error;
  napi_ref on_closed;
  napi_async_context actx;
  uint8_t *scratch;
  uint8_t *batch;
  uint32_t lens[BATCH_MAX];
} tun_t;

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "wgts_tun: N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)


static void release_refs(tun_t *t) {
  napi_env env = t->env;
  if (t->on_packets) { napi_delete_reference(env, t->on_packets); t->on_packets = NULL; }
  if (t->on_error) { napi_delete_reference(env, t->on_error); t->on_error = NULL; }
  if (t->actx) { napi_async_destroy(env, t->actx); t->actx = NULL; }
}

static void free_tun(tun_t *t) {
  if (t->fd >= 0) close(t->fd);
  if (t->ctl >= 0) close(t->ctl);
  free(t->scratch);
  free(t->batch);
  free(t);
}

static void call_js(tun_t *t, napi_ref fnref, size_t argc, napi_value *argv) { wgts_call_ref(t->env, t->actx, fnref, argc, argv); }

static void flush(tun_t *t, size_t bytes, uint32_t count) {
  napi_env env = t->env;
  void *data;
  napi_value ab, lab, lens, cnt;
  if (napi_create_arraybuffer(env, bytes, &data, &ab) != napi_ok) return;
  memcpy(data, t->batch, bytes);
  void *ldata;
  if (napi_create_arraybuffer(env, count * 4, &ldata, &lab) != napi_ok) return;
  memcpy(ldata, t->lens, count * 4);
  napi_create_typedarray(env, napi_uint32_array, count, lab, 0, &lens);
  napi_create_uint32(env, count, &cnt);
  napi_value argv[3] = {ab, lens, cnt};
  call_js(t, t->on_packets, 3, argv);
}

static void stop_poll(tun_t *t) {
  if (t->poll_init && !uv_is_closing((uv_handle_t *)&t->poll)) uv_poll_stop(&t->poll);
}

static void report_error(tun_t *t, int err) { wgts_report_errno(t->env, t->actx, t->on_error, err); }

static void on_readable(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  napi_env env = t->env;
  napi_handle_scope scope;
  (void)events;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    stop_poll(t);
    report_error(t, -status);
    napi_close_handle_scope(env, scope);
    return;
  }
  size_t off = 0;
  uint32_t n = 0;
  int err = 0;
  for (int i = 0; i < MAX_PER_WAKE && !t->closing; i++) {
    ssize_t r = read(t->fd, t->scratch, SCRATCH_BYTES);
    if (r < 0) {
      if (errno == EINTR) { i--; continue; }
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (r == 0) break;
    if (n == BATCH_MAX || off + (size_t)r > BATCH_BYTES) {
      flush(t, off, n);
      off = 0;
      n = 0;
      if (t->closing) break;
    }
    memcpy(t->batch + off, t->scratch, (size_t)r);
    t->lens[n++] = (uint32_t)r;
    off += (size_t)r;
  }
  if (n > 0 && !t->closing) flush(t, off, n);
  if (err && !t->closing) {
    stop_poll(t);
    report_error(t, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll_closed(uv_handle_t *h) {
  tun_t *t = (tun_t *)h->data;
  napi_env env = t->env;
  t->closed = 1;
  if (t->fd >= 0) { close(t->fd); t->fd = -1; }
  if (t->ctl >= 0) { close(t->ctl); t->ctl = -1; }
  if (t->finalized) {
    free_tun(t);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_ref cb = t->on_closed;
  t->on_closed = NULL;
  if (cb) {
    call_js(t, cb, 0, NULL);
    napi_delete_reference(env, cb);
  }
  release_refs(t);
  if (t->self) { napi_delete_reference(env, t->self); t->self = NULL; }
  napi_close_handle_scope(env, scope);
}

static void finalize(napi_env env, void *data, void *hint) {
  tun_t *t = (tun_t *)data;
  (void)env; (void)hint;
  t->finalized = 1;
  if (!t->poll_init || t->closed) {
    free_tun(t);
    return;
  }
  if (!uv_is_closing((uv_handle_t *)&t->poll)) {
    uv_poll_stop(&t->poll);
    uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  }
  /* else: close in flight; on_poll_closed frees */
}

static tun_t *unwrap(napi_env env, napi_value v) {
  tun_t *t = NULL;
  if (napi_unwrap(env, v, (void **)&t) != napi_ok || t == NULL) {
    napi_throw_type_error(env, NULL, "wgts_tun: not a TUN handle");
    return NULL;
  }
  return t;
}

static napi_value get_string(napi_env env, napi_value v, char *buf, size_t cap, const char *what) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  if (len >= cap - 1) {
    napi_throw_range_error(env, NULL, what);
    return NULL;
  }
  napi_value ok;
  napi_get_boolean(env, true, &ok);
  return ok;
}

/* The JS handle { name, fd } for an open device; takes fd and ctl (closed on failure). */
static napi_value wrap_tun(napi_env env, int fd, int ctl, const char *ifname) {
  tun_t *t = (tun_t *)calloc(1, sizeof *t);
  if (t) { t->scratch = malloc(SCRATCH_BYTES); t->batch = malloc(BATCH_BYTES); }
  if (!t || !t->scratch || !t->batch) {
    close(fd); close(ctl);
    if (t) { free(t->scratch); free(t->batch); free(t); }
    return wgts_throw_errno(env, ENOMEM, "allocate");
  }
  t->env = env;
  t->fd = fd;
  t->ctl = ctl;
  memcpy(t->name, ifname, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  napi_value obj, nm, fdv;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &nm));
  CHECK(napi_set_named_property(env, obj, "name", nm));
  CHECK(napi_create_int32(env, fd, &fdv));
  CHECK(napi_set_named_property(env, obj, "fd", fdv));
  if (napi_wrap(env, obj, t, finalize, NULL, NULL) != napi_ok) {
    free_tun(t);
    napi_throw_error(env, NULL, "wgts_tun: napi_wrap failed");
    return NULL;
  }
  return obj;
}

/* open(name: string, netnsPath: string | null) -> handle { name, fd } */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1];
  if (!get_string(env, argv[0], name, sizeof name, "interface name must be a string of at most 15 bytes")) return NULL;
  char nspath[4096] = {0};
  napi_valuetype vt = napi_undefined;
  if (argc > 1) napi_typeof(env, argv[1], &vt);
  int use_ns = vt == napi_string;
  if (use_ns && !get_string(env, argv[1], nspath, sizeof nspath, "netns path too long")) return NULL;

  int orig = -1, target = -1;
  if (use_ns) {
    orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig < 0) return wgts_throw_errno(env, errno, "open /proc/thread-self/ns/net");
    target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (target < 0) { int e = errno; close(orig); return wgts_throw_errno(env, e, "open netns"); }
    if (setns(target, CLONE_NEWNET) < 0) {
      int e = errno; close(orig); close(target);
      return wgts_throw_errno(env, e, "setns into netns");
    }
  }
  int err = 0;
  const char *what = NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int ctl = -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (fd < 0) { err = errno; what = "open /dev/net/tun"; }
  else {
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name)); /* checked: at most IFNAMSIZ - 1 bytes */
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { err = errno; what = "TUNSETIFF"; }
    else {
      ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (ctl < 0) ctl = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (ctl < 0) { err = errno; what = "control socket"; }
    }
  }
  if (use_ns) {
    if (setns(orig, CLONE_NEWNET) < 0) {
      /* The loop thread would stay in the wrong namespace: nothing safe is left to do. */
      fprintf(stderr, "wgts_tun: cannot return to the original network namespace: %s\n", strerror(errno));
      abort();
    }
    close(orig);
    close(target);
  }
  if (err) {
    if (fd >= 0) close(fd);
    return wgts_throw_errno(env, err, what);
  }

  return wrap_tun(env, fd, ctl, ifr.ifr_name);
}

/* openFd(fd) -> handle { name, fd }: a TUN device opened elsewhere, now ours (closed with the handle). */
static napi_value js_open_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "wgts_tun: openFd(fd) needs a descriptor number");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ioctl(fd, TUNGETIFF, &ifr) < 0) return wgts_throw_errno(env, errno, "TUNGETIFF (not a TUN device?)");
  if ((ifr.ifr_flags & IFF_TUN) == 0 || (ifr.ifr_flags & IFF_NO_PI) == 0) return wgts_throw_errno(env, EINVAL, "not an IFF_TUN|IFF_NO_PI device");
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return wgts_throw_errno(env, errno, "O_NONBLOCK");
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl >= 0) fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
  int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) ctl = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ctl < 0) return wgts_throw_errno(env, errno, "control socket");
  return wrap_tun(env, fd, ctl, ifr.ifr_name);
}

/* start(handle, onPackets(buf, lens, count), onError(code, errno)) */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], this_obj;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &this_obj, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return NULL;
  if (t->fd < 0 || t->closing) return wgts_throw_errno(env, EBADF, "start");
  if (t->poll_init) { napi_throw_error(env, NULL, "wgts_tun: already started"); return NULL; }
  CHECK(napi_create_reference(env, argv[1], 1, &t->on_packets));
  CHECK(napi_create_reference(env, argv[2], 1, &t->on_error));
  CHECK(napi_create_reference(env, argv[0], 1, &t->self)); /* keep the handle alive while polling */
  napi_value res_name;
  CHECK(napi_create_string_utf8(env, "wgts:tun", NAPI_AUTO_LENGTH, &res_name));
  CHECK(napi_async_init(env, argv[0], res_name, &t->actx));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &t->poll, t->fd);
  if (r < 0) return wgts_throw_errno(env, -r, "uv_poll_init");
  t->poll.data = t;
  t->poll_init = 1;
  r = uv_poll_start(&t->poll, UV_READABLE, on_readable);
  if (r < 0) return wgts_throw_errno(env, -r, "uv_poll_start");
  return NULL;
}

/* write(handle, Uint8Array) -> bytes written, or -errno */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return NULL;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *data = NULL;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "wgts_tun: packet must be a Uint8Array");
    return NULL;
  }
  ssize_t r;
  if (t->fd < 0 || t->closing) r = -EBADF;
  else {
    do r = write(t->fd, data, length); while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_value out;
  CHECK(napi_create_int32(env, (int32_t)r, &out));
  return out;
}

static int ifr_init(tun_t *t, struct ifreq *ifr) {
  if (t->ctl < 0) return -EBADF;
  memset(ifr, 0, sizeof *ifr);
  memcpy(ifr->ifr_name, t->name, IFNAMSIZ);
  return 0;
}

/* getMtu(handle) -> mtu, or -errno */
static napi_value js_get_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return NULL;
  struct ifreq ifr;
  int r = ifr_init(t, &ifr);
  if (r == 0) r = ioctl(t->ctl, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
  CHECK(napi_create_int32(env, r, &out));
  return out;
}

/* setMtu(handle, mtu) -> 0, or -errno */
static napi_value js_set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return NULL;
  int32_t mtu = 0;
  CHECK(napi_get_value_int32(env, argv[1], &mtu));
  struct ifreq ifr;
  int r = ifr_init(t, &ifr);
  if (r == 0) {
    ifr.ifr_mtu = mtu;
    r = ioctl(t->ctl, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
  }
  CHECK(napi_create_int32(env, r, &out));
  return out;
}

/* close(handle, onClosed()) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = unwrap(env, argv[0]);
  if (!t) return NULL;
  if (t->closing) { napi_throw_error(env, NULL, "wgts_tun: already closing"); return NULL; }
  t->closing = 1;
  if (!t->poll_init) {
    uv_loop_t *loop;
    CHECK(napi_get_uv_event_loop(env, &loop));
    /* Close through libuv anyway, so the callback runs asynchronously like the started case. */
    int r = uv_poll_init(loop, &t->poll, t->fd);
    if (r < 0) {
      close(t->fd); t->fd = -1;
      close(t->ctl); t->ctl = -1;
      napi_value fn, recv, res;
      napi_get_undefined(env, &recv);
      fn = argv[1];
      napi_call_function(env, recv, fn, 0, NULL, &res);
      return NULL;
    }
    t->poll.data = t;
    t->poll_init = 1;
    CHECK(napi_create_reference(env, argv[0], 1, &t->self));
    napi_value res_name;
    CHECK(napi_create_string_utf8(env, "wgts:tun", NAPI_AUTO_LENGTH, &res_name));
    CHECK(napi_async_init(env, argv[0], res_name, &t->actx));
  }
  CHECK(napi_create_reference(env, argv[1], 1, &t->on_closed));
  uv_poll_stop(&t->poll);
  uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  return NULL;
}

/* setSockMark(fd, mark) -> 0, or -errno */
static napi_value js_set_sock_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint32_t mark;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_value_uint32(env, argv[1], &mark));
  int r = setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0 ? -errno : 0;
  CHECK(napi_create_int32(env, r, &out));
  return out;
}

/* getSockMark(fd) -> mark (as a double, it is unsigned 32-bit), or -errno */
static napi_value js_get_sock_mark(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  uint32_t mark = 0;
  socklen_t len = sizeof mark;
  double r = getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len) < 0 ? -(double)errno : (double)mark;
  CHECK(napi_create_double(env, r, &out));
  return out;
}

napi_value udp_init(napi_env env, napi_value exports); /* udp.c */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
    {"openFd", NULL, js_open_fd, NULL, NULL, NULL, napi_default, NULL},
    {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
    {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
    {"getMtu", NULL, js_get_mtu, NULL, NULL, NULL, napi_default, NULL},
    {"setMtu", NULL, js_set_mtu, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"setSockMark", NULL, js_set_sock_mark, NULL, NULL, NULL, napi_default, NULL},
    {"getSockMark", NULL, js_get_sock_mark, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return udp_init(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
