// The VPC edge's public side: a Linux TAP device (IFF_TAP | IFF_NO_PI) the card opens by name,
// non-blocking. Reads come in batches: a uv_poll handle on the device's fd tells JavaScript when
// it is readable (one callback per wake-up, not per frame), and tapRead drains up to a whole
// buffer of frames in one call, each behind a 4-byte big-endian length (QEMU's stream framing,
// so the card can hand a run of them to a guest socket without copying). Writes are one
// write(2) per frame (a TAP device takes exactly one frame per write); a full device queue
// (EAGAIN) is reported, not waited for.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

static napi_value tthrow(napi_env env, const char *m) {
  napi_throw_error(env, "NITRIDE_TAP", m);
  return NULL;
}

static napi_value tnum(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static int tbuf(napi_env env, napi_value v, uint8_t **p, size_t *n) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)p, n) == napi_ok;
}

static int tint(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }

// tapOpen(name: string) -> fd. Creates the device when it does not exist (root, or
// CAP_NET_ADMIN); a device nobody made persistent goes away when its last fd closes.
static napi_value tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1];
  size_t nlen = 0;
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || nlen == 0 || nlen >= IFNAMSIZ) {
    return tthrow(env, "tapOpen(name): name must be 1..15 bytes");
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    napi_throw_error(env, "NITRIDE_TAP_OPEN", strerror(errno));
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, nlen);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    napi_throw_error(env, "NITRIDE_TAP_OPEN", strerror(e));
    return NULL;
  }
  return tnum(env, fd);
}

// tapPersist(fd, on: boolean) -> 0 or -errno: whether the device outlives its last fd
// (TUNSETPERSIST), so a next card (a live update) can open it again by name.
static napi_value tap_persist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool on = false;
  if (argc != 2 || !tint(env, argv[0], &fd) || fd < 0 || napi_get_value_bool(env, argv[1], &on) != napi_ok) return tthrow(env, "tapPersist(fd, on)");
  return tnum(env, ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0 ? -errno : 0);
}

// tapClose(fd)
static napi_value tap_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc != 1 || !tint(env, argv[0], &fd) || fd < 0) return tthrow(env, "tapClose(fd)");
  close(fd);
  return NULL;
}

// tapRead(fd, buf, idx: Int32Array, maxFrames) -> count (or -errno). Frame i lands at
// buf[idx[2i], +idx[2i+1]), preceded by its length (4 bytes, big-endian); frames are contiguous.
// Stops at EAGAIN, at maxFrames, or when less than 65,540 bytes of buf are left.
static napi_value tap_read(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, max;
  uint8_t *b;
  size_t bn, idxn;
  int32_t *idx;
  napi_typedarray_type tt;
  bool is = false;
  if (argc != 4 || !tint(env, argv[0], &fd) || !tbuf(env, argv[1], &b, &bn) || napi_is_typedarray(env, argv[2], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[2], &tt, &idxn, (void **)&idx, NULL, NULL) != napi_ok || tt != napi_int32_array || !tint(env, argv[3], &max) ||
      max < 0 || (size_t)max > idxn / 2) {
    return tthrow(env, "tapRead(fd, buf, idx, maxFrames): bad arguments");
  }
  size_t off = 0;
  int32_t n = 0;
  while (n < max && bn - off >= 65540) {
    ssize_t r = read(fd, b + off + 4, 65536);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return tnum(env, -errno);
    }
    if (r == 0) break;
    b[off] = (uint8_t)(r >> 24);
    b[off + 1] = (uint8_t)(r >> 16);
    b[off + 2] = (uint8_t)(r >> 8);
    b[off + 3] = (uint8_t)r;
    idx[2 * n] = (int32_t)(off + 4);
    idx[2 * n + 1] = (int32_t)r;
    n++;
    off += 4 + (size_t)r;
  }
  return tnum(env, n);
}

// tapWrite(fd, buf, off, len) -> 1 written, 0 device queue full (EAGAIN), -errno otherwise.
static napi_value tap_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, off, len;
  uint8_t *b;
  size_t bn;
  if (argc != 4 || !tint(env, argv[0], &fd) || !tbuf(env, argv[1], &b, &bn) || !tint(env, argv[2], &off) || !tint(env, argv[3], &len) || off < 0 || len <= 0 ||
      (size_t)off + (size_t)len > bn) {
    return tthrow(env, "tapWrite(fd, buf, off, len): bad arguments");
  }
  for (;;) {
    ssize_t r = write(fd, b + off, (size_t)len);
    if (r >= 0) return tnum(env, 1);
    if (errno == EINTR) continue;
    return tnum(env, errno == EAGAIN ? 0 : -errno);
  }
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  int closed;
} tap_watch;

static void on_closed(uv_handle_t *h) {
  tap_watch *w = (tap_watch *)h->data;
  free(w);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  tap_watch *w = (tap_watch *)h->data;
  if (w->closed) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, w->cb, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status, &arg);
  if (napi_make_callback(env, w->ctx, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void watch_release(napi_env env, tap_watch *w) {
  if (w->closed) return;
  w->closed = 1;
  uv_poll_stop(&w->poll);
  napi_delete_reference(env, w->cb);
  napi_async_destroy(env, w->ctx);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

// tapWatch(fd, onReadable: (status) => void) -> handle. Unref'd: it keeps no process alive.
static napi_value tap_watch_(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t;
  if (argc != 2 || !tint(env, argv[0], &fd) || fd < 0 || napi_typeof(env, argv[1], &t) != napi_ok || t != napi_function) return tthrow(env, "tapWatch(fd, fn)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return tthrow(env, "no event loop");
  tap_watch *w = calloc(1, sizeof *w);
  if (!w) return tthrow(env, "out of memory");
  w->env = env;
  if (uv_poll_init(loop, &w->poll, fd) != 0) {
    free(w);
    return tthrow(env, "uv_poll_init failed");
  }
  w->poll.data = w;
  napi_value name;
  napi_create_string_utf8(env, "nitride.tap", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &w->cb);
  napi_async_init(env, NULL, name, &w->ctx);
  uv_unref((uv_handle_t *)&w->poll);
  uv_poll_start(&w->poll, UV_READABLE, on_poll);
  napi_value ext;
  napi_create_external(env, w, NULL, NULL, &ext);
  return ext;
}

// tapUnwatch(handle): stops and frees the poll handle (once; later calls do nothing).
static napi_value tap_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc != 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) return tthrow(env, "tapUnwatch(handle)");
  watch_release(env, (tap_watch *)p);
  return NULL;
}

void tap_register(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"tapOpen", NULL, tap_open, NULL, NULL, NULL, napi_default, NULL},
      {"tapClose", NULL, tap_close, NULL, NULL, NULL, napi_default, NULL},
      {"tapPersist", NULL, tap_persist, NULL, NULL, NULL, napi_default, NULL},
      {"tapRead", NULL, tap_read, NULL, NULL, NULL, napi_default, NULL},
      {"tapWrite", NULL, tap_write, NULL, NULL, NULL, napi_default, NULL},
      {"tapWatch", NULL, tap_watch_, NULL, NULL, NULL, napi_default, NULL},
      {"tapUnwatch", NULL, tap_unwatch, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 7, d);
}
