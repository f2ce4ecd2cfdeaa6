from __future__ import annotations

import json
from pathlib import Path

import bcrypt

from pulltrace.lab import hosts, nginx, pki, procs, registries, users
from pulltrace.lab.endpoints import endpoints
from pulltrace.lab.settings import LabSettings, Ports, load_settings


def _settings(tmp_path: Path, tls: int = 443) -> LabSettings:
    return LabSettings(state_dir=tmp_path, ports=Ports.from_base(tls=tls))


def test_hosts_block_is_idempotent_and_removable():
    original = "127.0.0.1 localhost\n"
    block = hosts.render_block("pulltrace.test", ["hub.pulltrace.test", "cdn.pulltrace.test"])
    once = hosts.with_block(original, "pulltrace.test", block)
    assert hosts.with_block(once, "pulltrace.test", block) == once
    assert "127.0.0.1 hub.pulltrace.test" in once
    other = hosts.with_block(once, "other.test", hosts.render_block("other.test", ["hub.other.test"]))
    assert hosts.remove_block(hosts.remove_block(other, "other.test"), "pulltrace.test") == original


def test_settings_round_trip(tmp_path):
    s = _settings(tmp_path, tls=8443)
    s.save()
    assert load_settings(tmp_path) == s
    assert s.https_base("hub") == "https://hub.pulltrace.test:8443"
    assert endpoints(s)["plain"].url == "http://plain.pulltrace.test:5000"


def test_registry_configs(tmp_path):
    s = _settings(tmp_path)
    specs = {r.name: r.config for r in registries.registry_specs(s, tmp_path / "sign.crt", tmp_path / "htpasswd")}
    assert specs["hub"]["middleware"]["storage"][0]["options"]["baseurl"] == "https://cdn.pulltrace.test"
    assert specs["hub"]["auth"]["token"]["realm"] == "https://auth.pulltrace.test/token"
    assert specs["gcr"]["auth"]["token"]["realm"] == "https://gcr.pulltrace.test/v2/token"
    assert specs["harbor"]["auth"]["token"]["service"] == "harbor-registry"
    assert "middleware" not in specs["harbor"] and "auth" not in specs["plain"]
    assert specs["mirror"]["proxy"]["remoteurl"] == "https://hub.pulltrace.test"
    assert specs["plain"]["http"]["addr"] == "127.0.0.1:5000"
    shared = {specs[n]["storage"]["filesystem"]["rootdirectory"] for n in ("hub", "gcr", "basic", "harbor", "plain")}
    assert shared == {str(s.paths.storage)}
    json.loads(registries.registry_specs(s, Path("c"), Path("h"))[0].text())  # JSON is valid YAML


def test_htpasswd_is_bcrypt_and_stable():
    text = registries.htpasswd_text()
    assert registries.htpasswd_text(text) == text
    entries = dict(line.split(":", 1) for line in text.splitlines())
    assert bcrypt.checkpw(b"alice-pass", entries["alice"].encode())
    assert set(entries) == set(users.USERS)


def test_nginx_config_names_every_host(tmp_path):
    s = _settings(tmp_path)
    text = nginx.render(s, pki.Pki(tmp_path / "pki"))
    for host in s.hostnames:
        if not host.startswith("plain."):  # plain HTTP: the registry itself listens
            assert f"server_name {host};" in text
    assert "error_page 307 =302 @gcr_redirect" in text
    assert 'realm=\\"https://proxy.pulltrace.test/docker-auth/token\\"' in text


def test_daemon_env_drops_registry_and_proxy_variables():
    env = procs.daemon_env({"SSL_CERT_FILE": "x"}, base={"REGISTRY_AUTH_FILE": "a", "HTTPS_PROXY": "p", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "SSL_CERT_FILE": "x"}


def test_last_error_line_prefers_errors(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("==== old run\nerror: old\n==== new run\ninfo ok\nlevel=fatal msg=bad config\ninfo bye\n")
    assert procs.last_error_line(log) == "level=fatal msg=bad config"


def test_pki_is_reused_and_sans_cover_hosts(tmp_path):
    first = pki.ensure_pki(tmp_path, ["a.pulltrace.test"])
    ca = first.ca_cert.read_bytes()
    server = first.server_cert.read_bytes()
    again = pki.ensure_pki(tmp_path, ["a.pulltrace.test"])
    assert again.ca_cert.read_bytes() == ca and again.server_cert.read_bytes() == server
    grown = pki.ensure_pki(tmp_path, ["a.pulltrace.test", "b.pulltrace.test"])
    assert grown.ca_cert.read_bytes() == ca and grown.server_cert.read_bytes() != server
