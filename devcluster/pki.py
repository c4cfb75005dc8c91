"""Certificates for the local control plane, made with openssl once per state directory."""

import csv
import secrets
import subprocess
from pathlib import Path

PEOPLE = {
    "alice": "",
    "bob": "",
    "carol": "acme-auditors",
    "admin": "system:masters",
}
"""People the local API server knows by a bearer token (`--token-auth-file`), as a real
cluster knows them through OIDC, with their groups: the example Project's admin, member and
reader (through its group), and a cluster administrator. The console signs them in."""

CLIENTS = {
    "admin": ("stratus-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
}


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _signed(pki: Path, name: str, subject: str, extensions: str) -> None:
    key, csr, ext = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.ext"
    _openssl("genrsa", "-out", str(key), "2048")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki / "ca.crt"),
        "-CAkey",
        str(pki / "ca.key"),
        "-CAcreateserial",
        "-days",
        "365",
        "-extfile",
        str(ext),
        "-out",
        str(pki / f"{name}.crt"),
    )
    csr.unlink()
    ext.unlink()


def ensure_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate, client certificates and the SA key pair."""
    if (pki / "sa.pub").exists():
        return
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("genrsa", "-out", str(pki / "ca.key"), "2048")
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(pki / "ca.key"),
        "-subj",
        "/CN=stratus-local-ca",
        "-days",
        "365",
        "-out",
        str(pki / "ca.crt"),
    )
    _signed(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\n",
    )
    for name, (common_name, organisation) in CLIENTS.items():
        subject = f"/CN={common_name}" + (f"/O={organisation}" if organisation else "")
        _signed(pki, name, subject, "extendedKeyUsage=clientAuth\n")
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def tokens_file(pki: Path) -> Path:
    return pki / "tokens.csv"


def ensure_tokens(pki: Path) -> None:
    """A random token for each of PEOPLE, once per state directory."""
    path = tokens_file(pki)
    if path.exists():
        return
    with path.open("w", newline="") as out:
        for name, groups in PEOPLE.items():
            csv.writer(out).writerow([secrets.token_urlsafe(24), name, name, groups])
    path.chmod(0o600)


def token_of(pki: Path, person: str) -> str:
    with tokens_file(pki).open(newline="") as rows:
        return next(row[0] for row in csv.reader(rows) if row[1] == person)


def kubeconfig(pki: Path, server: str, client: str) -> str:
    """A kubeconfig for one client identity, with the files referenced by absolute path."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: stratus-local
  cluster:
    server: {server}
    certificate-authority: {pki / "ca.crt"}
users:
- name: {client}
  user:
    client-certificate: {pki / f"{client}.crt"}
    client-key: {pki / f"{client}.key"}
contexts:
- name: stratus-local
  context: {{cluster: stratus-local, user: {client}}}
current-context: stratus-local
"""
