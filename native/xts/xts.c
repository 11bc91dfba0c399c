// nitride_xts: AES-256-XTS per sector with one OpenSSL context per key, the two file
// operations Node lacks (fallocate PUNCH_HOLE, lseek SEEK_DATA/SEEK_HOLE), and batched
// positional writes on one thread-pool job.
// OpenSSL comes from the Node binary itself (node-gyp puts Node's OpenSSL headers on
// the include path and Node exports the symbols), so nothing extra is linked.
//
// Sector convention (dm-crypt aes-xts-plain64): the tweak of a sector is its offset in
// 512-byte units as a little-endian 64-bit integer in a 16-byte IV. A ciphertext sector
// of all zero bytes is the "never written" marker and decrypts to zeros.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
} xts_key;

static void free_key(xts_key *k) {
  if (k->enc) EVP_CIPHER_CTX_free(k->enc);  // frees and cleanses the key schedule
  if (k->dec) EVP_CIPHER_CTX_free(k->dec);
  k->enc = NULL;
  k->dec = NULL;
}

static void finalize_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  xts_key *k = (xts_key *)data;
  free_key(k);
  free(k);
}

static napi_value throw_err(napi_env env, const char *msg) {
  napi_throw_error(env, "NITRIDE_XTS", msg);
  return NULL;
}

// createKey(key: Uint8Array(64)) -> external
static napi_value create_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_err(env, "createKey needs a key");
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) return throw_err(env, "key must be a Buffer");
  if (len != 64) return throw_err(env, "an AES-256-XTS key is 64 bytes");
  xts_key *k = (xts_key *)calloc(1, sizeof(xts_key));
  if (!k) return throw_err(env, "out of memory");
  k->enc = EVP_CIPHER_CTX_new();
  k->dec = EVP_CIPHER_CTX_new();
  if (!k->enc || !k->dec || EVP_CipherInit_ex(k->enc, EVP_aes_256_xts(), NULL, (const unsigned char *)data, NULL, 1) != 1 ||
      EVP_CipherInit_ex(k->dec, EVP_aes_256_xts(), NULL, (const unsigned char *)data, NULL, 0) != 1) {
    free_key(k);
    free(k);
    return throw_err(env, "OpenSSL refused the key (the two halves must differ)");
  }
  napi_value ext;
  napi_create_external(env, k, finalize_key, NULL, &ext);
  return ext;
}

// destroyKey(external): forget the key now rather than at garbage collection.
static napi_value destroy_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok) return throw_err(env, "destroyKey needs a key handle");
  free_key((xts_key *)p);
  return NULL;
}

static int all_zero(const unsigned char *p, size_t n) {
  const uint64_t *q = (const uint64_t *)p;  // sectors are 8-byte multiples; memcpy-free check
  size_t words = n / 8;
  uint64_t acc = 0;
  for (size_t i = 0; i < words; i++) acc |= q[i];
  for (size_t i = words * 8; i < n; i++) acc |= p[i];
  return acc == 0;
}

// crypt(key, encrypt: boolean, buf: Buffer, offset, length, firstSector512, sectorSize)
// Works in place on buf[offset, offset+length); length is a multiple of sectorSize.
static napi_value xts_crypt(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) return throw_err(env, "crypt needs 7 arguments");
  void *p;
  bool encrypt;
  void *data;
  size_t blen;
  int64_t off, len, sector512, ssize;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || napi_get_value_bool(env, argv[1], &encrypt) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &data, &blen) != napi_ok || napi_get_value_int64(env, argv[3], &off) != napi_ok ||
      napi_get_value_int64(env, argv[4], &len) != napi_ok || napi_get_value_int64(env, argv[5], &sector512) != napi_ok ||
      napi_get_value_int64(env, argv[6], &ssize) != napi_ok)
    return throw_err(env, "crypt: bad arguments");
  xts_key *k = (xts_key *)p;
  EVP_CIPHER_CTX *ctx = encrypt ? k->enc : k->dec;
  if (!ctx) return throw_err(env, "the key has been destroyed");
  if (off < 0 || len < 0 || ssize < 16 || ssize % 512 != 0 || len % ssize != 0 || (uint64_t)(off + len) > blen || sector512 < 0)
    return throw_err(env, "crypt: range outside the buffer or not whole sectors");
  unsigned char *b = (unsigned char *)data + off;
  unsigned char iv[16];
  uint64_t step = (uint64_t)ssize / 512;
  uint64_t s = (uint64_t)sector512;
  for (int64_t i = 0; i < len; i += ssize, s += step) {
    unsigned char *sec = b + i;
    if (!encrypt && all_zero(sec, (size_t)ssize)) continue;  // hole marker: plaintext zeros
    memset(iv, 0, sizeof iv);
    for (int j = 0; j < 8; j++) iv[j] = (unsigned char)(s >> (8 * j));
    int outl = 0;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) != 1 || EVP_CipherUpdate(ctx, sec, &outl, sec, (int)ssize) != 1 ||
        outl != ssize)
      return throw_err(env, "OpenSSL XTS operation failed");
  }
  return NULL;
}

// punchHole(fd, offset, length) -> 0 or -errno
static napi_value punch_hole(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t off, len;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &off) != napi_ok ||
      napi_get_value_int64(env, argv[2], &len) != napi_ok)
    return throw_err(env, "punchHole(fd, offset, length)");
  int r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
  napi_value out;
  napi_create_int32(env, r == 0 ? 0 : -errno, &out);
  return out;
}

// seek(fd, offset, whence: 3 = SEEK_DATA, 4 = SEEK_HOLE) -> offset or -errno
static napi_value seek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, whence;
  int64_t off;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &off) != napi_ok ||
      napi_get_value_int32(env, argv[2], &whence) != napi_ok || (whence != SEEK_DATA && whence != SEEK_HOLE))
    return throw_err(env, "seek(fd, offset, SEEK_DATA|SEEK_HOLE)");
  off_t r = lseek(fd, (off_t)off, whence);
  napi_value out;
  napi_create_int64(env, r < 0 ? -(int64_t)errno : (int64_t)r, &out);
  return out;
}

// pwriteBatch(fd, buffers: Buffer[], positions: number[], done: (errno) => void)
// Writes every buffer at its position on one thread-pool job: one hand-off for a whole
// event-loop turn of small writes instead of one per write. errno 0 on success.
typedef struct {
  napi_async_work work;
  napi_ref keep;  // the buffers array (keeps the buffers alive)
  napi_ref done;
  int fd;
  size_t n;
  unsigned char **ptr;
  size_t *len;
  int64_t *pos;
  int err;
} write_batch;

static void batch_execute(napi_env env, void *data) {
  (void)env;
  write_batch *b = (write_batch *)data;
  for (size_t i = 0; i < b->n && b->err == 0; i++) {
    size_t done = 0;
    while (done < b->len[i]) {
      ssize_t w = pwrite(b->fd, b->ptr[i] + done, b->len[i] - done, (off_t)(b->pos[i] + (int64_t)done));
      if (w < 0) {
        if (errno == EINTR) continue;
        b->err = errno;
        break;
      }
      done += (size_t)w;
    }
  }
}

static void batch_complete(napi_env env, napi_status status, void *data) {
  write_batch *b = (write_batch *)data;
  napi_value cb, arg, undef;
  napi_get_reference_value(env, b->done, &cb);
  napi_create_int32(env, status == napi_ok ? b->err : EIO, &arg);
  napi_get_undefined(env, &undef);
  napi_delete_reference(env, b->done);
  napi_delete_reference(env, b->keep);
  napi_delete_async_work(env, b->work);
  free(b->ptr);
  free(b->len);
  free(b->pos);
  free(b);
  napi_call_function(env, undef, cb, 1, &arg, NULL);
}

static napi_value pwrite_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint32_t n, m;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_array_length(env, argv[1], &n) != napi_ok ||
      napi_get_array_length(env, argv[2], &m) != napi_ok || n != m)
    return throw_err(env, "pwriteBatch(fd, buffers, positions, done)");
  write_batch *b = (write_batch *)calloc(1, sizeof(write_batch));
  if (!b) return throw_err(env, "out of memory");
  b->fd = fd;
  b->n = n;
  b->ptr = (unsigned char **)calloc(n ? n : 1, sizeof(unsigned char *));
  b->len = (size_t *)calloc(n ? n : 1, sizeof(size_t));
  b->pos = (int64_t *)calloc(n ? n : 1, sizeof(int64_t));
  if (!b->ptr || !b->len || !b->pos) {
    free(b->ptr); free(b->len); free(b->pos); free(b);
    return throw_err(env, "out of memory");
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, p;
    void *d;
    size_t l;
    if (napi_get_element(env, argv[1], i, &e) != napi_ok || napi_get_buffer_info(env, e, &d, &l) != napi_ok ||
        napi_get_element(env, argv[2], i, &p) != napi_ok || napi_get_value_int64(env, p, &b->pos[i]) != napi_ok || b->pos[i] < 0) {
      free(b->ptr); free(b->len); free(b->pos); free(b);
      return throw_err(env, "pwriteBatch: buffers must be Buffers and positions non-negative numbers");
    }
    b->ptr[i] = (unsigned char *)d;
    b->len[i] = l;
  }
  napi_value name;
  napi_create_string_utf8(env, "nitride_pwrite_batch", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &b->keep);
  napi_create_reference(env, argv[3], 1, &b->done);
  napi_create_async_work(env, NULL, name, batch_execute, batch_complete, b, &b->work);
  napi_queue_async_work(env, b->work);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"createKey", NULL, create_key, NULL, NULL, NULL, napi_default, NULL},
      {"destroyKey", NULL, destroy_key, NULL, NULL, NULL, napi_default, NULL},
      {"crypt", NULL, xts_crypt, NULL, NULL, NULL, napi_default, NULL},
      {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_default, NULL},
      {"seek", NULL, seek, NULL, NULL, NULL, napi_default, NULL},
      {"pwriteBatch", NULL, pwrite_batch, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
