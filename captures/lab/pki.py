"""The lab's certificates, made with the openssl command at build time into a temporary directory.

Two certificate authorities, both test-only and both thrown away with the build's temporary
directory (no key is committed: a fresh build makes fresh keys, and the captures only ever hold the
public certificates, which the handshakes send anyway):

- the *lab root* ("netreset lab Root CA"), which the agent trusts and which signed the real server's
  certificate (the service's "public" CA, as far as the lab is concerned);
- the *inspection CA* ("netreset lab Inspection CA") of the TLS-inspecting firewall, which the agent
  does **not** trust: the firewall signs its forged server certificate with it.

Keys are ECDSA P-256 (small certificates, so the captures stay a few KB). Names and SANs are fixed,
so truth.json can state the subject and issuer of every certificate a capture shows; serial numbers,
keys and validity dates change from build to build.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT_CA = "netreset lab Root CA"
INSPECTION_CA = "netreset lab Inspection CA"
ORGANIZATION = "netreset lab"
#: Every name the real server's certificate covers (and the inspector's forgery copies).
SERVER_NAMES = ("wu2.frontend.clouddatahub.net", "x.servicebus.windows.net", "server.lab.test")
SERVER_CN = SERVER_NAMES[0]
VALID_DAYS = 30


@dataclass(frozen=True)
class Pki:
    """Paths of everything a build made."""

    root_cert: Path
    server_cert: Path
    server_key: Path
    inspection_cert: Path
    forged_cert: Path
    forged_key: Path


def _openssl(*argv: str) -> None:
    done = subprocess.run(["openssl", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(argv)}: {done.stderr.strip()}")


def _ca(directory: Path, stem: str, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and its key."""
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", str(VALID_DAYS), "-subj", f"/O={ORGANIZATION}/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _leaf(directory: Path, stem: str, ca: tuple[Path, Path], organization: str) -> tuple[Path, Path]:
    """A server certificate for SERVER_NAMES (and the server's lab address) signed by ``ca``."""
    cert, key, csr, ext = (directory / f"{stem}.{s}" for s in ("crt", "key", "csr", "ext"))
    sans = ",".join([f"DNS:{n}" for n in SERVER_NAMES] + ["IP:10.66.6.2"])
    ext.write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/O={organization}/CN={SERVER_CN}")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
             "-days", str(VALID_DAYS), "-extfile", str(ext), "-out", str(cert))
    return cert, key


def make(directory: Path) -> Pki:
    """Make both CAs, the server's certificate and the inspector's forgery in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    root = _ca(directory, "root-ca", ROOT_CA)
    inspection = _ca(directory, "inspection-ca", INSPECTION_CA)
    server = _leaf(directory, "server", root, ORGANIZATION)
    forged = _leaf(directory, "forged", inspection, ORGANIZATION)
    return Pki(root[0], server[0], server[1], inspection[0], forged[0], forged[1])
