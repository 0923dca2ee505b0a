#!/usr/bin/env python3
"""Verifies the DKIM signature of .eml files with dkimpy, an implementation independent of ours.

    dkim_verify.py --public-key PUB.pem --domain D --selector S [--index I] FILE.eml [FILE.eml ...]

PUB.pem is the public key as `openssl pkey -pubout` writes it (SubjectPublicKeyInfo, PEM). The DNS
lookup is stubbed: `<S>._domainkey.<D>.` answers the TXT record `v=DKIM1; k=rsa|ed25519; p=...`
built from that key (for RSA the DER SubjectPublicKeyInfo, for Ed25519 the raw 32-byte key, RFC
8463); any other name answers nothing, so a signature naming another d= or s= fails.

--index picks the DKIM-Signature field to verify, counted from the top from 0 (the default, the
first), as dkimpy's `DKIM.verify(idx=…)` does: a message signed with several keys (RFC 8463 §4)
has its signatures verified one by one.

Prints one JSON object per file, in order: {"file", "ok", "log", "record"}; "log" holds dkimpy's
messages (why a signature failed). Exits 0 when it could check every file, whatever the verdicts.
Needs `dkimpy` and, for ed25519-sha256, `PyNaCl` (tests/support/requirements.txt).
"""

import argparse
import base64
import io
import json
import logging
import re
import sys

import dkim

# DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 },
# BIT STRING (0 unused bits) ... }, followed by the 32-byte public key.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def txt_record(pem: str) -> str:
    body = re.search(
        r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", pem, re.S
    )
    if not body:
        raise SystemExit("dkim_verify.py: no 'BEGIN PUBLIC KEY' block in the public key file")
    der = base64.b64decode("".join(body.group(1).split()))
    if der.startswith(ED25519_SPKI_PREFIX) and len(der) == len(ED25519_SPKI_PREFIX) + 32:
        key_type, data = "ed25519", der[len(ED25519_SPKI_PREFIX):]
    else:
        key_type, data = "rsa", der
    return f"v=DKIM1; k={key_type}; p={base64.b64encode(data).decode()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--selector", required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    with open(args.public_key, encoding="ascii") as f:
        record = txt_record(f.read())
    wanted = f"{args.selector}._domainkey.{args.domain}.".lower().encode()

    def dnsfunc(name, timeout=5):
        if isinstance(name, str):
            name = name.encode()
        return record.encode() if name.lower() == wanted else None

    for path in args.files:
        with open(path, "rb") as f:
            message = f.read()
        buffer = io.StringIO()
        logger = logging.getLogger(f"dkim_verify.{path}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        handler = logging.StreamHandler(buffer)
        logger.addHandler(handler)
        try:
            verifier = dkim.DKIM(message, logger=logger)
            ok = bool(verifier.verify(idx=args.index, dnsfunc=dnsfunc))
        except Exception as e:  # a crash in the verifier is a failed verification, explained
            ok = False
            logger.error("%s: %s", type(e).__name__, e)
        finally:
            logger.removeHandler(handler)
        print(
            json.dumps(
                {"file": path, "ok": ok, "log": buffer.getvalue(), "record": record}
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
