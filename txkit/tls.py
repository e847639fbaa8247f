"""TLS for the listeners and the clients that verify them (docs/tls.md).

A listener is put on TLS by its endpoint string: ``tcp:7101:interface=X``
becomes ``ssl:7101:interface=X:privateKey=KEY:certKey=CERT``, which
``txkit.listen`` serves (``server_tls``: the certificate, and the chain that
follows it in CERT); nothing in the services changes.  ``auto_certificate``
makes the self-signed certificate of ``--tls auto`` once per data directory
(``tls/cert.pem``, and ``tls/key.pem`` readable by its owner only), valid for
127.0.0.1, ::1 and localhost, and reuses it afterwards.  ``client_tls`` is
what a client of ours (a handset, a companion device) connects with: the
certificate verified against a trusted one and the name it dials, never
merely accepted.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)

from .private import write_private

#: Where ``--tls auto`` keeps its certificate, under the data directory.
AUTO_DIR, CERT_FILE, KEY_FILE = "tls", "cert.pem", "key.pem"
#: The names the generated certificate is valid for: loopback, as the listeners.
AUTO_NAMES = ("localhost",)
AUTO_ADDRESSES = ("127.0.0.1", "::1")
#: Ten years: a lab's certificate should not expire under a running rig.
AUTO_DAYS = 3650
#: One ``key=value`` of an endpoint string (``\\`` escapes ``:`` and ``=``).
_OPTION = re.compile(r"(?P<key>(?:[^=\\]|\\.)*)(?P<eq>=?)(?P<value>.*)", re.S)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class TlsError(ValueError):
    """A certificate or key that cannot be used, told in one line with its path."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A certificate (PEM; a chain may follow the leaf) and its private key."""

    cert: Path
    key: Path
    #: What our own clients trust to reach this listener: the certificate
    #: itself (self-signed) unless a CA that issued it is named.
    ca: Path | None = None

    @property
    def trusted(self) -> Path:
        return self.ca if self.ca is not None else self.cert


def auto_certificate(data_dir: Path) -> TlsFiles:
    """The data directory's self-signed certificate, made on first use."""
    directory = data_dir / AUTO_DIR
    files = TlsFiles(directory / CERT_FILE, directory / KEY_FILE)
    if not files.cert.exists():  # never made, or a start stopped between the two files
        cert, key = _self_signed()
        try:
            write_private(files.key, key.decode())  # the key first: a cert is never keyless
            tmp = files.cert.with_name(CERT_FILE + ".tmp")
            tmp.write_bytes(cert)
            tmp.replace(files.cert)
        except OSError as exc:
            raise TlsError(f"cannot write {exc.filename} ({exc.strerror})") from None
    else:
        _private(files.key)
    check(files)
    return files


def _private(key: Path) -> None:
    """A key others may read has leaked: refuse it (as ``txkit.private``)."""
    try:
        mode = key.stat().st_mode
    except OSError as exc:
        raise TlsError(f"{key}: cannot read the TLS key ({exc.strerror})") from None
    if mode & 0o077:
        raise TlsError(f"{key}: readable by others (chmod 600 it, or delete it)")


def _key_usage() -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "crl_sign", "encipher_only", "decipher_only"), False,
    )  # fmt: skip
    return x509.KeyUsage(digital_signature=True, key_cert_sign=True, **flags)


def _self_signed() -> tuple[bytes, bytes]:
    """A P-256 key and a certificate for it, signed by itself."""

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smsemu local")])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(n) for n in AUTO_NAMES] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in AUTO_ADDRESSES
    ]
    public = key.public_key()
    # A CA of itself with the extensions strict verifiers (OpenSSL's
    # X509_STRICT, Python 3.13's default) want: trusted as its own root.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=AUTO_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def _certificates(path: Path) -> list[bytes]:
    """The PEM certificates in ``path``, in order; TlsError if none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsError(f"{path}: cannot read the certificate ({exc.strerror})") from None
    found = _PEM_CERT.findall(data)
    if not found:
        raise TlsError(f"{path}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)")
    return found


def check(files: TlsFiles) -> None:
    """Both files readable, PEM, and the key the certificate's: a listener
    must not fail on them later, with a less clear message."""
    from OpenSSL import SSL

    certs = _certificates(files.cert)
    if files.ca is not None:
        _certificates(files.ca)
    try:
        key_pem = files.key.read_bytes()
    except OSError as exc:
        raise TlsError(f"{files.key}: cannot read the TLS key ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise TlsError(f"{files.key}: not a PEM private key (or one with a passphrase)") from None
    try:  # the chain after the leaf too: it is served (server_tls)
        leaf, *_ = [x509.load_pem_x509_certificate(pem) for pem in certs]
    except ValueError:
        raise TlsError(f"{files.cert}: not a valid PEM certificate") from None
    context = SSL.Context(SSL.TLS_METHOD)
    try:
        context.use_certificate(leaf)
        context.use_privatekey(key)  # type: ignore[arg-type]
        context.check_privatekey()
    except SSL.Error:
        raise TlsError(f"{files.key}: not the key of the certificate {files.cert}") from None


def fingerprint(cert: Path) -> str:
    """The SHA-256 fingerprint of the (first) certificate, as ``openssl x509
    -fingerprint -sha256`` prints it: ``AB:CD:...``."""
    leaf = x509.load_pem_x509_certificate(_certificates(cert)[0])
    return leaf.fingerprint(hashes.SHA256()).hex(":").upper()


def _escape(value: str) -> str:
    """A value inside an endpoint string, whose separators are ``:`` and ``=``."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def secured(spec: str, files: TlsFiles) -> str:
    """The endpoint string ``spec`` (``txkit.endpoint_spec``'s form) on TLS
    with ``files``; an ``ssl:`` one is kept (it names its own files)."""
    kind, _, rest = spec.partition(":")
    if kind == "haproxy":  # the PROXY header in clear, then TLS (txkit.endpoints)
        return f"haproxy:{secured(rest, files)}"
    if kind == "ssl":
        return spec
    if kind != "tcp":
        raise TlsError(f"{spec!r}: only a tcp: listener can be put on TLS")
    return f"ssl:{rest}:privateKey={_escape(str(files.key))}:certKey={_escape(str(files.cert))}"


def is_tls(spec: str | None) -> bool:
    """Whether the endpoint string ``spec`` listens with TLS (``ssl:``, or
    ``haproxy:ssl:``: TLS once the PROXY header is read)."""
    return spec is not None and spec.removeprefix("haproxy:").startswith("ssl:")


def _options(spec: str) -> dict[str, str]:
    """The ``key=value`` options of an endpoint string, unescaped."""
    out: dict[str, str] = {}
    for part in re.findall(r"(?:[^:\\]|\\.)+", spec):
        match = _OPTION.fullmatch(part)
        if match is not None and match["eq"]:
            out[match["key"]] = re.sub(r"\\(.)", r"\1", match["value"])
    return out


def trusted_of(spec: str) -> Path | None:
    """The file of the certificate an ``ssl:`` endpoint serves (its
    ``certKey``, else its ``privateKey``, as ``server_tls`` reads them): what
    our own clients trust to reach a listener of this process, all its
    certificates (right for a self-signed one).  None for a plain listener."""
    if not is_tls(spec):
        return None
    options = _options(spec)
    path = options.get("certKey") or options.get("privateKey")
    return Path(path) if path else None


def tls_failure(reason: object) -> str | None:
    """Why a connection ended, if TLS ended it (``connectionLost``'s reason:
    a certificate not trusted, a peer that does not speak TLS): ``" (TLS:
    certificate verify failed)"``, for the line that says the link is lost."""
    from OpenSSL import SSL

    value = getattr(reason, "value", reason)
    if not isinstance(value, SSL.Error):
        return None
    errors = value.args[0] if value.args and isinstance(value.args[0], list) else []
    what = "; ".join(str(e[-1]) for e in errors if isinstance(e, tuple) and e) or str(value)
    return f" (TLS: {what})"


def server_tls(
    private_key: str,
    cert_key: str,
    extra_chain: str | None = None,
    *,
    method: str | None = None,
    dh_parameters: str | None = None,
) -> IOpenSSLServerConnectionCreator:
    """What a listener serves, made from an ``ssl:`` endpoint string's options
    (``privateKey``, ``certKey``, ``extraCertChain``, ``sslmethod``,
    ``dhParameters``): the first certificate of ``cert_key`` with its key, and
    as its chain the certificates that follow it there, then those of
    ``extra_chain``, each sent once.  Twisted's own ``ssl:`` parser sends the
    first alone, so a client trusting only the root CA could not verify a leaf
    whose file carries its intermediates (``txkit.endpoints.server_endpoint``)."""
    from OpenSSL import SSL
    from twisted.internet import ssl
    from twisted.python.filepath import FilePath

    cert_pem, key_pem = Path(cert_key).read_bytes(), Path(private_key).read_bytes()
    served = ssl.PrivateCertificate.loadPEM(cert_pem + b"\n" + key_pem)  # type: ignore[no-untyped-call]
    following = _PEM_CERT.findall(cert_pem)[1:]
    if extra_chain is not None:
        following += _certificates(Path(extra_chain))
    chain, seen = [], {served.dump()}
    for pem in following:
        cert = ssl.Certificate.loadPEM(pem)
        der = cert.dump()
        if der not in seen:
            seen.add(der)
            chain.append(cert.original)
    ssl_method = None
    if method is not None:
        if not method.endswith("_METHOD") or not hasattr(SSL, method):
            raise ValueError(f"sslmethod={method}: not an OpenSSL method (like TLS_METHOD)")
        ssl_method = getattr(SSL, method)
    dh = None
    if dh_parameters is not None:
        dh = ssl.DiffieHellmanParameters.fromFile(FilePath(dh_parameters))  # type: ignore[no-untyped-call]
    return ssl.CertificateOptions(
        privateKey=served.privateKey.original,
        certificate=served.original,
        method=ssl_method,
        extraCertChain=chain or None,
        dhParameters=dh,
    )


def client_tls(ca: Path, hostname: str = "127.0.0.1") -> IOpenSSLClientConnectionCreator:
    """Connect with TLS to ``hostname``, trusting only the certificates of
    ``ca`` (a self-signed certificate, or the CA that issued the server's):
    a server that shows another certificate, or one for another name, is
    refused during the handshake."""
    from twisted.internet import ssl

    roots = [ssl.Certificate.loadPEM(pem) for pem in _certificates(ca)]
    trust = ssl.trustRootFromCertificates(roots)  # type: ignore[no-untyped-call]
    return ssl.optionsForClientTLS(hostname, trustRoot=trust)
