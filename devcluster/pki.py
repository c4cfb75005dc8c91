"""Certificates for the local control plane, made with openssl once per state directory."""

import subprocess
from pathlib import Path

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
