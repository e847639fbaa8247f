"""Certificates issued by a CA, as a site's own PKI issues them: a root, an
intermediate it signs, and a leaf for 127.0.0.1 the intermediate signs.
``--tls auto``'s certificate is self-signed (``txkit.tls.auto_certificate``);
this is the other case docs/tls.md describes, a ``cert`` file holding the
chain after the certificate and a client trusting the root only."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class Issued:
    """The files of an issued chain, in ``directory``."""

    #: The root CA's certificate: what a client trusts, alone.
    root: Path
    #: The intermediate CA's certificate, alone (an ``extraCertChain`` file).
    intermediate: Path
    #: The leaf alone.
    leaf: Path
    #: The leaf then the intermediate: a ``cert`` file with its chain.
    chain: Path
    #: The leaf's private key (mode 0600, as the listeners want it).
    key: Path

    def der(self, path: Path) -> list[bytes]:
        """The certificates of ``path`` in DER, in order: what a peer is sent."""
        certs = x509.load_pem_x509_certificates(path.read_bytes())
        return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    """A certificate for ``key``, signed by ``issuer`` (itself if None), with
    the extensions strict verifiers (``VERIFY_X509_STRICT``) ask for."""
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    )
    if not ca:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        server = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(server, critical=False)
    return builder.sign(signer, hashes.SHA256())


def issued_chain(directory: Path) -> Issued:
    """A root CA, an intermediate CA and a leaf for 127.0.0.1, written into
    ``directory`` (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _certificate("test root CA", keys[0], None, ca=True)
    intermediate = _certificate("test intermediate CA", keys[1], (root, keys[0]), ca=True)
    leaf = _certificate("127.0.0.1", keys[2], (intermediate, keys[1]), ca=False)

    def pem(*certs: x509.Certificate) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    files = Issued(*(directory / n for n in ("root.pem", "intermediate.pem", "leaf.pem",
                                             "chain.pem", "leaf.key")))  # fmt: skip
    files.root.write_bytes(pem(root))
    files.intermediate.write_bytes(pem(intermediate))
    files.leaf.write_bytes(pem(leaf))
    files.chain.write_bytes(pem(leaf, intermediate))
    files.key.write_bytes(
        keys[2].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files
