// nitride_gcm: AES-256-GCM for the VPC underlay with one OpenSSL context per key and
// direction, kept for the key's life, so sealing a frame sets only its nonce (Node's
// createCipheriv builds a new context and key schedule per call, which costs more than
// the encryption of a 1500-byte frame). OpenSSL comes from the Node binary itself.
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"createKey", NULL, create_key, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
