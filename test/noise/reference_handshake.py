#!/usr/bin/env python3
"""Independent reference for the WireGuard handshake (whitepaper section 5.4).

Written from the whitepaper's definitions only; shares no code with src/noise.
Uses hashlib (BLAKE2s), hmac, and the `cryptography` package (X25519,
ChaCha20-Poly1305); XChaCha20 is HChaCha20 (draft-irtf-cfrg-xchacha section
2.2) on top of that. Fixed inputs in, handshake messages and keys out as JSON:

    python3 test/noise/reference_handshake.py > test/vectors/noise-handshake.json
"""
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"
LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"


def HASH(*parts):
    return hashlib.blake2s(b"".join(parts), digest_size=32).digest()


def MAC(key, data):
    return hashlib.blake2s(data, digest_size=16, key=key).digest()


def HMAC(key, data):
    return hmac.new(key, data, lambda: hashlib.blake2s(digest_size=32)).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def clamp(k):
    k = bytearray(k)
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    return bytes(k)


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes_raw()


def DH(priv, public):
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(public))


def AEAD(key, counter, plaintext, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plaintext, ad)


def AEAD_OPEN(key, counter, sealed, ad):
    return ChaCha20Poly1305(key).decrypt(b"\0" * 4 + struct.pack("<Q", counter), sealed, ad)


def hchacha20(key, nonce16):
    def rotl(v, c):
        return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))

    def qr(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)

    s = list(struct.unpack("<4I", b"expand 32-byte k") + struct.unpack("<8I", key) + struct.unpack("<4I", nonce16))
    for _ in range(10):
        qr(s, 0, 4, 8, 12); qr(s, 1, 5, 9, 13); qr(s, 2, 6, 10, 14); qr(s, 3, 7, 11, 15)
        qr(s, 0, 5, 10, 15); qr(s, 1, 6, 11, 12); qr(s, 2, 7, 8, 13); qr(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


# draft-irtf-cfrg-xchacha-03 section 2.2.1 test vector, so the helper is checked before use.
assert hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927")).hex() == (
    "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")


def XAEAD(key, nonce24, plaintext, ad):
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).encrypt(b"\0" * 4 + nonce24[16:], plaintext, ad)


def fixed(label, n=32):
    """Arbitrary but reproducible input bytes."""
    return hashlib.sha256(b"wgts noise vector: " + label).digest()[:n]


def run_case(name, psk, cookie_to):
    Si_priv = clamp(fixed(b"initiator static"))
    Sr_priv = clamp(fixed(b"responder static"))
    Ei_random = fixed(b"initiator ephemeral")
    Er_random = fixed(b"responder ephemeral")
    Si_pub, Sr_pub = pub(Si_priv), pub(Sr_priv)
    # TAI64N of 2024-01-01T00:00:00Z: 2^62 + 10 + unix seconds, then nanoseconds (0).
    timestamp = struct.pack(">QI", 2**62 + 10 + 1704067200, 0)
    I_index, R_index = 0x11223344, 0xA1B2C3D4
    Q = psk if psk is not None else b"\0" * 32

    # ---- Initiator: handshake initiation (5.4.2) ----
    Ei_priv = clamp(Ei_random)
    Ei_pub = pub(Ei_priv)
    Ci = HASH(CONSTRUCTION)
    Hi = HASH(Ci, IDENTIFIER)
    Hi = HASH(Hi, Sr_pub)
    Ci = KDF(1, Ci, Ei_pub)[0]
    Hi = HASH(Hi, Ei_pub)
    Ci, k = KDF(2, Ci, DH(Ei_priv, Sr_pub))
    enc_static = AEAD(k, 0, Si_pub, Hi)
    Hi = HASH(Hi, enc_static)
    Ci, k = KDF(2, Ci, DH(Si_priv, Sr_pub))
    enc_timestamp = AEAD(k, 0, timestamp, Hi)
    Hi = HASH(Hi, enc_timestamp)
    init_alpha = struct.pack("<BxxxI", 1, I_index) + Ei_pub + enc_static + enc_timestamp
    init_mac1 = MAC(HASH(LABEL_MAC1, Sr_pub), init_alpha)
    initiation = init_alpha + init_mac1 + b"\0" * 16
    assert len(initiation) == 148

    # ---- Responder: consume initiation (mirror of 5.4.2) ----
    Cr = KDF(1, HASH(CONSTRUCTION), Ei_pub)[0]
    Hr = HASH(HASH(HASH(HASH(CONSTRUCTION), IDENTIFIER), Sr_pub), Ei_pub)
    Cr, k = KDF(2, Cr, DH(Sr_priv, Ei_pub))
    assert AEAD_OPEN(k, 0, enc_static, Hr) == Si_pub
    Hr = HASH(Hr, enc_static)
    Cr, k = KDF(2, Cr, DH(Sr_priv, Si_pub))
    assert AEAD_OPEN(k, 0, enc_timestamp, Hr) == timestamp
    Hr = HASH(Hr, enc_timestamp)
    assert (Cr, Hr) == (Ci, Hi)

    # ---- Responder: handshake response (5.4.3) ----
    Er_priv = clamp(Er_random)
    Er_pub = pub(Er_priv)
    Cr = KDF(1, Cr, Er_pub)[0]
    Hr = HASH(Hr, Er_pub)
    Cr = KDF(1, Cr, DH(Er_priv, Ei_pub))[0]
    Cr = KDF(1, Cr, DH(Er_priv, Si_pub))[0]
    Cr, tau, k = KDF(3, Cr, Q)
    Hr = HASH(Hr, tau)
    enc_nothing = AEAD(k, 0, b"", Hr)
    Hr = HASH(Hr, enc_nothing)
    resp_alpha = struct.pack("<BxxxII", 2, R_index, I_index) + Er_pub + enc_nothing
    resp_mac1 = MAC(HASH(LABEL_MAC1, Si_pub), resp_alpha)
    response = resp_alpha + resp_mac1 + b"\0" * 16
    assert len(response) == 92

    # ---- Transport keys (5.4.5): (Ti_send = Tr_recv, Ti_recv = Tr_send) := KDF2(C, e) ----
    Ti_send, Ti_recv = KDF(2, Cr, b"")
    # Initiator's side of the key derivation, to confirm both ends agree.
    Ci = KDF(1, Ci, Er_pub)[0]
    Ci = KDF(1, Ci, DH(Ei_priv, Er_pub))[0]
    Ci = KDF(1, Ci, DH(Si_priv, Er_pub))[0]
    Ci, _, _ = KDF(3, Ci, Q)
    assert KDF(2, Ci, b"") == [Ti_send, Ti_recv]

    # First transport message from the initiator: a keepalive (5.4.6), counter 0.
    keepalive = struct.pack("<BxxxIQ", 4, R_index, 0) + AEAD(Ti_send, 0, b"", b"")

    # ---- Cookie reply (5.4.7) ----
    # Case "no psk": the responder answers the initiation (cookie key from Sr_pub).
    # Case "with psk": the initiator answers the response (cookie key from Si_pub).
    if cookie_to == "initiation":
        target, checker_pub, target_sender = initiation, Sr_pub, I_index
        source = bytes([192, 0, 2, 1]) + struct.pack(">H", 51820)
    else:
        target, checker_pub, target_sender = response, Si_pub, R_index
        source = bytes.fromhex("20010db8000000000000000000000001") + struct.pack(">H", 443)
    cookie_secret = fixed(b"cookie secret")
    cookie_nonce = fixed(b"cookie nonce", 24)
    smac1, smac2 = len(target) - 32, len(target) - 16
    tau_cookie = MAC(cookie_secret, source)
    enc_cookie = XAEAD(HASH(LABEL_COOKIE, checker_pub), cookie_nonce, tau_cookie, target[smac1:smac2])
    cookie_reply = struct.pack("<BxxxI", 3, target_sender) + cookie_nonce + enc_cookie
    assert len(cookie_reply) == 64
    # The same message re-stamped while the cookie is fresh: mac2 := MAC(cookie, msg_beta).
    restamped = target[:smac2] + MAC(tau_cookie, target[:smac2])

    return {
        "name": name,
        "initiator_static_private": Si_priv.hex(),
        "responder_static_private": Sr_priv.hex(),
        "initiator_static_public": Si_pub.hex(),
        "responder_static_public": Sr_pub.hex(),
        "preshared_key": Q.hex(),
        "initiator_ephemeral_random": Ei_random.hex(),
        "responder_ephemeral_random": Er_random.hex(),
        "timestamp": timestamp.hex(),
        "initiator_index": I_index,
        "responder_index": R_index,
        "initiation": initiation.hex(),
        "response": response.hex(),
        "initiator_send_key": Ti_send.hex(),
        "initiator_recv_key": Ti_recv.hex(),
        "keepalive_from_initiator": keepalive.hex(),
        "cookie_secret": cookie_secret.hex(),
        "cookie_nonce": cookie_nonce.hex(),
        "cookie_source": source.hex(),
        "cookie": tau_cookie.hex(),
        "cookie_reply_to": cookie_to,
        "cookie_reply": cookie_reply.hex(),
        "restamped_with_mac2": restamped.hex(),
    }


if __name__ == "__main__":
    print(json.dumps({
        "source": "test/noise/reference_handshake.py, an independent implementation of the whitepaper §5.4",
        "description": "WireGuard handshake initiation/response (mac1 set, mac2 zero), transport keys, a keepalive, "
                       "and a cookie reply (to the initiation, or to the response) plus that message re-stamped with mac2. "
                       "Static privates are stored clamped; ephemerals are the raw 32 random bytes before clamping.",
        "cases": [run_case("no psk", None, "initiation"), run_case("with psk", fixed(b"preshared key"), "response")],
    }, indent=2, ensure_ascii=False))
