#!/usr/bin/env python3
"""Capturing SMTP server for the integration tests (aiosmtpd based).

Listens on 127.0.0.1 only. Every accepted message is stored in --dir as

    <seq>.json   {"seq", "mail_from", "rcpt_tos", "auth_user", "tls", ...}
    <seq>.eml    the DATA bytes as received (dot-unstuffed, CRLF kept,
                 without the terminating ".")

<seq> is a zero-padded counter starting at 1. Both files are written to a
temporary name and renamed into place, the .json first and the .eml last: a
reader that sees N.eml may rely on N.json being complete.

Prints exactly one line "READY <port>" on stdout once listening.
Exits cleanly on SIGTERM/SIGINT and, with --exit-on-stdin-eof, when its stdin
reaches EOF (i.e. the parent that holds the pipe died).

    python3 capture_smtp.py --port 0 --dir OUT [--tls none|starttls|implicit]
        [--cert C --key K | --make-cert DIR [--cert-name NAME ...]]
        [--auth-user U --auth-password P] [--require-auth]

    python3 capture_smtp.py --make-cert DIR      # only write certificates

--make-cert DIR writes DIR/ca.pem (the CA the client must trust),
DIR/cert.pem (leaf + chain) and DIR/key.pem, with a leaf valid for the
--cert-name values (default: localhost and 127.0.0.1), and uses them for the
server unless --cert/--key are given.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

LISTEN_HOST = "127.0.0.1"


def make_cert(directory, names):
    import trustme

    os.makedirs(directory, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*names)
    ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    # leaf first, then the rest of the chain
    with open(cert_path, "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    leaf.private_key_pem.write_to_path(key_path)
    return cert_path, key_path


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CaptureHandler:
    def __init__(self, outdir, auth_user):
        self.outdir = outdir
        self.seq = 0
        # Without configured credentials we do not advertise AUTH at all.
        self.advertise_auth = auth_user is not None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.advertise_auth:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.seq += 1
        seq = self.seq
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        meta = {
            "seq": seq,
            "mail_from": envelope.mail_from,
            "mail_options": list(envelope.mail_options),
            "rcpt_tos": list(envelope.rcpt_tos),
            "rcpt_options": list(envelope.rcpt_options),
            "auth_user": auth_user,
            "tls": bool(tls),
            "helo": session.host_name,
        }
        base = os.path.join(self.outdir, f"{seq:06d}")
        write_atomic(base + ".json", json.dumps(meta).encode())
        write_atomic(base + ".eml", bytes(envelope.original_content or b""))
        return "250 2.0.0 OK: queued as %06d" % seq


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        if (
            user is not None
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        ):
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False + no message -> "535 5.7.8 Authentication credentials invalid"
        return AuthResult(success=False, handled=False)

    return authenticator


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--dir", help="output directory for captured messages")
    p.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--make-cert", metavar="DIR")
    p.add_argument("--cert-name", action="append", metavar="NAME",
                   help="identity for the --make-cert leaf (repeatable; "
                        "default: localhost and 127.0.0.1)")
    p.add_argument("--auth-user")
    p.add_argument("--auth-password", default="")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.dir is None and args.make_cert is None:
        p.error("--dir is required (unless only --make-cert is given)")
    if args.require_auth and args.auth_user is None:
        p.error("--require-auth needs --auth-user")
    if args.dir is not None and args.tls != "none" and not (
        (args.cert and args.key) or args.make_cert
    ):
        p.error("--tls %s needs --cert and --key, or --make-cert" % args.tls)
    return args


async def serve(args, cert, key):
    loop = asyncio.get_running_loop()
    os.makedirs(args.dir, exist_ok=True)

    tls_ctx = None
    if args.tls != "none":
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(cert, key)

    handler = CaptureHandler(args.dir, args.auth_user)
    smtp_kwargs = dict(
        hostname="localhost",  # avoid socket.getfqdn(): DNS may be unreachable
        enable_SMTPUTF8=True,
        auth_require_tls=False,  # loopback only: allow AUTH in clear text
        auth_required=args.require_auth,
        authenticator=make_authenticator(args.auth_user, args.auth_password),
    )
    if args.tls == "starttls":
        smtp_kwargs.update(tls_context=tls_ctx, require_starttls=True)

    def factory():
        return SMTP(handler, **smtp_kwargs)

    # Same as aiosmtpd's Controller(ssl_context=...) does for SMTPS, but on our
    # own loop: Controller cannot report the port it got for port=0.
    server = await loop.create_server(
        factory,
        host=LISTEN_HOST,
        port=args.port,
        ssl=tls_ctx if args.tls == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            # os.read, not sys.stdin: a daemon thread blocked inside a buffered
            # reader aborts the interpreter at shutdown.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()

    await stop.wait()
    server.close()
    # Do not wait for open sessions: close them along with the loop.
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="capture_smtp: %(levelname)s %(name)s: %(message)s",
    )
    # aiosmtpd warns about AUTH without TLS; that is intended here.
    warnings.filterwarnings("ignore", message=".*AUTH.*TLS.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    cert, key = args.cert, args.key
    if args.make_cert:
        names = args.cert_name or ["localhost", "127.0.0.1"]
        made_cert, made_key = make_cert(args.make_cert, names)
        cert, key = cert or made_cert, key or made_key
    if args.dir is None:
        return 0

    asyncio.run(serve(args, cert, key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
