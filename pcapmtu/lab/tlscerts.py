"""A TLS certificate chain as large as real ones get, for the lab's HTTPS server.

A root CA, `INTERMEDIATES` intermediate CAs and a leaf, each with an RSA key of `KEY_BITS`, made
by `openssl` in the run's work folder: the server sends the leaf and the intermediates in its
first flight, about 1.4 kB each, so the handshake itself needs full-size packets (as with public
CAs' chains; that is how a black hole makes HTTPS hang while plain HTTP of small pages works).
Nothing here is trusted by anything: the client does not check it.
"""

from __future__ import annotations

from pathlib import Path

from pcapmtu.lab import system

KEY_BITS = 4096
INTERMEDIATES = 2
DAYS = 2


def make_chain(folder: Path) -> tuple[Path, Path]:
    """(the leaf's certificate followed by the intermediates', the leaf's key), in `folder`."""
    issuer: tuple[Path, Path] | None = None
    names = ["root", *(f"intermediate{i}" for i in range(1, INTERMEDIATES + 1)), "leaf"]
    certs = []
    for name in names:
        key, cert = folder / f"{name}.key", folder / f"{name}.crt"
        subject = f"/CN=pcapmtu lab {name}"
        system.run(["openssl", "genrsa", "-out", str(key), str(KEY_BITS)])
        ca = "CA:FALSE" if name == "leaf" else "CA:TRUE"
        if issuer is None:
            new = ["-x509", "-new", "-key", str(key), "-out", str(cert), "-days", str(DAYS)]
            system.run(
                ["openssl", "req", *new, "-subj", subject, "-addext", f"basicConstraints={ca}"]
            )
        else:
            request = folder / f"{name}.csr"
            system.run(
                ["openssl", "req", "-new", "-key", str(key), "-out", str(request), "-subj", subject]
            )
            extensions = folder / f"{name}.ext"
            extensions.write_text(f"basicConstraints={ca}\n")
            sign = ["-in", str(request), "-CA", str(issuer[0]), "-CAkey", str(issuer[1])]
            sign += ["-CAcreateserial", "-out", str(cert), "-days", str(DAYS)]
            system.run(["openssl", "x509", "-req", *sign, "-extfile", str(extensions)])
        certs.append(cert)
        issuer = (cert, key)
    chain = folder / "chain.pem"
    chain.write_text("".join(c.read_text() for c in reversed(certs[1:])))  # leaf first, no root
    return chain, folder / "leaf.key"
