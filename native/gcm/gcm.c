// nitride_gcm: AES-256-GCM for the VPC underlay with one OpenSSL context per key and
// direction, kept for the key's life, so sealing a frame sets only its nonce (Node's
// createCipheriv builds a new context and key schedule per call, which costs more than
// the encryption of a 1500-byte frame). OpenSSL comes from the Node binary itself.
// Also batched UDP for the underlay bridge: sendmmsg/recvmmsg on the fd of a bound Node
// dgram socket, non-blocking, so one system call carries many datagrams (Node's dgram makes
// one call and one JS event per datagram). And the VPC switch's flow-cache fast path
// (switchChunk): the same decision as VpcSwitch.forwardFast for frames whose flow is cached,
// over a whole chunk in one call. And (tap.c) the VPC edge's TAP device.
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <node_api.h>
#include <openssl/evp.h>

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
} gcm_key;

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  gcm_key *k = (gcm_key *)data;
  if (k->enc) EVP_CIPHER_CTX_free(k->enc);
  if (k->dec) EVP_CIPHER_CTX_free(k->dec);
  free(k);
}

static napi_value throw_msg(napi_env env, const char *m) {
  napi_throw_error(env, "NITRIDE_GCM", m);
  return NULL;
}

static int buf(napi_env env, napi_value v, uint8_t **p, size_t *n) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)p, n) == napi_ok;
}

// createKey(key: Buffer(32)) -> external
static napi_value create_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *key;
  size_t n;
  if (argc < 1 || !buf(env, argv[0], &key, &n) || n != 32) return throw_msg(env, "createKey needs a 32-byte key");
  gcm_key *k = calloc(1, sizeof(gcm_key));
  if (!k) return throw_msg(env, "out of memory");
  k->enc = EVP_CIPHER_CTX_new();
  k->dec = EVP_CIPHER_CTX_new();
  if (!k->enc || !k->dec || EVP_EncryptInit_ex(k->enc, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 || EVP_EncryptInit_ex(k->enc, NULL, NULL, key, NULL) != 1 ||
      EVP_DecryptInit_ex(k->dec, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 || EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
      EVP_DecryptInit_ex(k->dec, NULL, NULL, key, NULL) != 1) {
    finalize(env, k, NULL);
    return throw_msg(env, "OpenSSL refused the key");
  }
  napi_value ext;
  napi_create_external(env, k, finalize, NULL, &ext);
  return ext;
}

static gcm_key *key_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return (gcm_key *)p;
}

// seal(key, nonce: Buffer(12), aad: Buffer, plain: Buffer, out: Buffer(plain.length + 16))
static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  gcm_key *k = argc == 5 ? key_of(env, argv[0]) : NULL;
  uint8_t *iv, *aad, *pt, *out;
  size_t ivn, aadn, ptn, outn;
  if (!k || !buf(env, argv[1], &iv, &ivn) || ivn != 12 || !buf(env, argv[2], &aad, &aadn) || !buf(env, argv[3], &pt, &ptn) || !buf(env, argv[4], &out, &outn) || outn != ptn + 16 || ptn > 0x7fffffff || aadn > 0x7fffffff) {
    return throw_msg(env, "seal(key, nonce12, aad, plain, out[plain+16])");
  }
  int len = 0;
  if (EVP_EncryptInit_ex(k->enc, NULL, NULL, NULL, iv) != 1 || (aadn && EVP_EncryptUpdate(k->enc, NULL, &len, aad, (int)aadn) != 1) ||
      EVP_EncryptUpdate(k->enc, out, &len, pt, (int)ptn) != 1 || EVP_EncryptFinal_ex(k->enc, out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_GCM_GET_TAG, 16, out + ptn) != 1) {
    return throw_msg(env, "sealing failed");
  }
  return NULL;
}

// open(key, nonce, aad, cipherAndTag: Buffer, out: Buffer(len - 16)) -> boolean
static napi_value open_(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  gcm_key *k = argc == 5 ? key_of(env, argv[0]) : NULL;
  uint8_t *iv, *aad, *ct, *out;
  size_t ivn, aadn, ctn, outn;
  if (!k || !buf(env, argv[1], &iv, &ivn) || ivn != 12 || !buf(env, argv[2], &aad, &aadn) || !buf(env, argv[3], &ct, &ctn) || ctn < 16 || !buf(env, argv[4], &out, &outn) || outn != ctn - 16 || ctn > 0x7fffffff || aadn > 0x7fffffff) {
    return throw_msg(env, "open(key, nonce12, aad, cipherAndTag, out[len-16])");
  }
  int len = 0;
  int ok = EVP_DecryptInit_ex(k->dec, NULL, NULL, NULL, iv) == 1 && (!aadn || EVP_DecryptUpdate(k->dec, NULL, &len, aad, (int)aadn) == 1) &&
           EVP_DecryptUpdate(k->dec, out, &len, ct, (int)(ctn - 16)) == 1 && EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_GCM_SET_TAG, 16, ct + ctn - 16) == 1 &&
           EVP_DecryptFinal_ex(k->dec, out + len, &len) == 1;
  napi_value r;
  napi_get_boolean(env, ok, &r);
  return r;
}

#define BATCH_MAX 256

static int get_i32(napi_env env, napi_value v, int32_t *out) { return napi_get_value_int32(env, v, out) == napi_ok; }
static int get_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

static napi_value num(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

// sendBatch(fd, addr: u32 (host order), port, datagrams: Buffer[], start, end) -> how many of
// datagrams[start..end) the kernel took (>= 0), or -errno when it took none.
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint32_t addr, port, start, end, len;
  bool is_arr = false;
  if (argc != 6 || !get_i32(env, argv[0], &fd) || !get_u32(env, argv[1], &addr) || !get_u32(env, argv[2], &port) || port > 65535 ||
      napi_is_array(env, argv[3], &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, argv[3], &len) != napi_ok ||
      !get_u32(env, argv[4], &start) || !get_u32(env, argv[5], &end) || start > end || end > len) {
    return throw_msg(env, "sendBatch(fd, addr, port, datagrams, start, end)");
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(addr);
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  uint32_t done = 0;
  while (start + done < end) {
    uint32_t n = end - start - done;
    if (n > BATCH_MAX) n = BATCH_MAX;
    memset(msgs, 0, sizeof(struct mmsghdr) * n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value el;
      uint8_t *p;
      size_t pn;
      if (napi_get_element(env, argv[3], start + done + i, &el) != napi_ok || !buf(env, el, &p, &pn)) return throw_msg(env, "sendBatch: every datagram must be a Buffer");
      iov[i].iov_base = p;
      iov[i].iov_len = pn;
      msgs[i].msg_hdr.msg_name = &sa;
      msgs[i].msg_hdr.msg_namelen = sizeof sa;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r;
    do r = sendmmsg(fd, msgs, n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0) return num(env, done > 0 ? (int64_t)done : -(int64_t)errno);
    done += (uint32_t)r;
    if ((uint32_t)r < n) break;
  }
  return num(env, done);
}

// recvBatch(fd, slab: Buffer, slot, meta: Uint32Array) -> count (>= 0) or -errno. Datagram i
// is at slab[i*slot ..] with length meta[3i], source address meta[3i+1] (host order) and
// port meta[3i+2]; at most min(slab/slot, meta/3, 256) datagrams. A datagram longer than
// `slot` is reported with its full length (meta[3i] > slot): the caller drops it.
static napi_value recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint32_t slot;
  uint8_t *slab;
  size_t slabn;
  napi_typedarray_type tt;
  size_t metan;
  void *metap;
  if (argc != 4 || !get_i32(env, argv[0], &fd) || !buf(env, argv[1], &slab, &slabn) || !get_u32(env, argv[2], &slot) || slot == 0 ||
      napi_get_typedarray_info(env, argv[3], &tt, &metan, &metap, NULL, NULL) != napi_ok || tt != napi_uint32_array) {
    return throw_msg(env, "recvBatch(fd, slab, slot, meta: Uint32Array)");
  }
  uint32_t *meta = (uint32_t *)metap;
  size_t n = slabn / slot;
  if (n > metan / 3) n = metan / 3;
  if (n > BATCH_MAX) n = BATCH_MAX;
  if (n == 0) return num(env, 0);
  struct mmsghdr msgs[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  struct sockaddr_in from[BATCH_MAX];
  memset(msgs, 0, sizeof(struct mmsghdr) * n);
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = slab + i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int r;
  do r = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0) return num(env, -(int64_t)errno);
  for (int i = 0; i < r; i++) {
    meta[3 * i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? slot + 1 : msgs[i].msg_len;
    meta[3 * i + 1] = ntohl(from[i].sin_addr.s_addr);
    meta[3 * i + 2] = ntohs(from[i].sin_port);
  }
  return num(env, r);
}

// The switch's per-port flow cache (src/vpc/switch.ts): parallel typed arrays of `slots`
// entries; fcMac holds 6 bytes per slot (the destination ENI's MAC), fcFlags bit 0 = the
// destination is in the sender's subnet (a frame may then be addressed to its MAC directly).
typedef struct {
  int32_t *gen;
  uint32_t *dst;
  uint32_t *ports;
  uint8_t *proto;
  double *until;
  uint8_t *mac;
  uint8_t *flags;
  uint32_t slots;
} flow_cache;

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **p, size_t *n) {
  napi_typedarray_type t;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_typedarray_info(env, v, &t, n, p, NULL, NULL) == napi_ok && t == want;
}

static const uint8_t ROUTER_MAC[6] = {0x02, 0x4e, 0x52, 0x00, 0x00, 0x01}; // the virtual router (switch.ts ROUTER_MAC)

static inline uint32_t rd32(const uint8_t *b) { return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3]; }

// switchChunk(buf, idx: Int32Array, count, portMac: Buffer(6), portIp, sourceDestCheck, gen,
//   now, fcGen, fcDst, fcPorts, fcProto, fcUntil, fcMac, fcFlags, out: Int32Array) -> hits.
// For frame i at buf[idx[2i], +idx[2i+1]): out[i] = its flow-cache slot when the cached
// decision applies (routed frames are rewritten here: TTL - 1 with the checksum adjusted,
// destination MAC from the cache, source MAC the router's), or -1 when the frame needs the
// switch's full path (anything not a whole IPv4 datagram from this ENI to a cached flow).
static napi_value switch_chunk(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *b, *pmac;
  size_t bn, pmn, idxn, outn, n1, n2, n3, n4, n5, n6, n7;
  int32_t *idx, *out;
  uint32_t count, pip, gen;
  bool sdc;
  double now;
  flow_cache fc;
  if (argc != 16 || !buf(env, argv[0], &b, &bn) || !typed(env, argv[1], napi_int32_array, (void **)&idx, &idxn) || !get_u32(env, argv[2], &count) ||
      !buf(env, argv[3], &pmac, &pmn) || pmn != 6 || !get_u32(env, argv[4], &pip) || napi_get_value_bool(env, argv[5], &sdc) != napi_ok ||
      !get_u32(env, argv[6], &gen) || napi_get_value_double(env, argv[7], &now) != napi_ok ||
      !typed(env, argv[8], napi_int32_array, (void **)&fc.gen, &n1) || !typed(env, argv[9], napi_uint32_array, (void **)&fc.dst, &n2) ||
      !typed(env, argv[10], napi_uint32_array, (void **)&fc.ports, &n3) || !typed(env, argv[11], napi_uint8_array, (void **)&fc.proto, &n4) ||
      !typed(env, argv[12], napi_float64_array, (void **)&fc.until, &n5) || !typed(env, argv[13], napi_uint8_array, (void **)&fc.mac, &n6) ||
      !typed(env, argv[14], napi_uint8_array, (void **)&fc.flags, &n7) || !typed(env, argv[15], napi_int32_array, (void **)&out, &outn) ||
      count > idxn / 2 || count > outn || n1 < 2 || (n1 & (n1 - 1)) != 0 || n2 != n1 || n3 != n1 || n4 != n1 || n5 != n1 || n6 != 6 * n1 || n7 != n1) {
    return throw_msg(env, "switchChunk: bad arguments");
  }
  fc.slots = (uint32_t)n1;
  uint32_t bits = 0;
  while ((1u << bits) < fc.slots) bits++;
  uint32_t hits = 0;
  for (uint32_t i = 0; i < count; i++) {
    out[i] = -1;
    int64_t off = idx[2 * i], len = idx[2 * i + 1];
    if (off < 0 || len < 14 + 28 || (uint64_t)(off + len) > bn) continue;
    uint8_t *f = b + off;
    if (sdc && memcmp(f + 6, pmac, 6) != 0) continue;
    if (f[12] != 0x08 || f[13] != 0x00) continue;
    uint8_t *ip = f + 14;
    if (ip[0] != 0x45) continue;
    uint32_t total = ((uint32_t)ip[2] << 8) | ip[3];
    if (total < 28 || total > (uint32_t)len - 14) continue;
    if (((ip[6] & 0x3f) | ip[7]) != 0) continue;
    uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
    if (sdc && src != pip) continue;
    uint8_t proto = ip[9];
    uint32_t ports = rd32(ip + 20);
    // The same hash as VpcSwitch.forwardFast.
    uint32_t slot = (uint32_t)((dst ^ (uint32_t)((ports ^ proto) * 0x85ebca6bu)) * 0x9e3779b1u) >> (32 - bits);
    if (fc.gen[slot] != (int32_t)gen || fc.dst[slot] != dst || fc.ports[slot] != ports || fc.proto[slot] != proto || !(now < fc.until[slot])) continue;
    const uint8_t *dmac = fc.mac + 6 * slot;
    if (memcmp(f, ROUTER_MAC, 6) == 0) {
      if (ip[8] <= 1) continue;
      ip[8] -= 1;
      uint32_t sum = (((uint32_t)ip[10] << 8) | ip[11]) + 0x0100;
      sum = (sum & 0xffff) + (sum >> 16);
      ip[10] = (uint8_t)(sum >> 8);
      ip[11] = (uint8_t)sum;
      memcpy(f, dmac, 6);
      memcpy(f + 6, ROUTER_MAC, 6);
    } else if (!((fc.flags[slot] & 1) && memcmp(f, dmac, 6) == 0)) {
      continue;
    }
    out[i] = (int32_t)slot;
    hits++;
  }
  return num(env, hits);
}

void tap_register(napi_env env, napi_value exports); // tap.c: the VPC edge's public side

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"createKey", NULL, create_key, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_, NULL, NULL, NULL, napi_default, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_default, NULL},
      {"recvBatch", NULL, recv_batch, NULL, NULL, NULL, napi_default, NULL},
      {"switchChunk", NULL, switch_chunk, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 6, d);
  tap_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
