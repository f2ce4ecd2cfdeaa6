"""Credential lookup from a real docker config file and a real helper program on PATH."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pulltrace.client.credentials import DOCKER_HUB_CONFIG_KEY, config_path, lookup
from pulltrace.client.errors import AuthError

HELPER = """#!/bin/sh
# A docker-credential-* helper: `get` reads the server URL on stdin.
read server
echo "$server" >> "{log}"
case "$server" in
  helped.example) echo '{{"ServerURL":"helped.example","Username":"helper-user","Secret":"helper-pass"}}' ;;
  token.example) echo '{{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-123"}}' ;;
  {hub}) echo '{{"ServerURL":"{hub}","Username":"hubuser","Secret":"hubpass"}}' ;;
  broken.example) echo 'no json here' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    script = bindir / "docker-credential-pt-test"
    script.write_text(HELPER.format(log=log, hub=DOCKER_HUB_CONFIG_KEY))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "docker"
    config.mkdir()
    return {"DOCKER_CONFIG": str(config), "PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(tmp_path)}


def write_config(env: dict[str, str], data: dict) -> None:
    Path(env["DOCKER_CONFIG"], "config.json").write_text(json.dumps(data))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_config_path_honours_docker_config(tmp_path):
    assert config_path({"DOCKER_CONFIG": "/x"}) == Path("/x/config.json")
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".docker" / "config.json"


def test_no_config_means_anonymous(env):
    assert lookup("hub.pulltrace.test", env) is None


def test_auths_entry_with_auth_field_and_url_shaped_keys(env):
    write_config(env, {"auths": {
        "basic.pulltrace.test": {"auth": b64("admin:admin-pass")},
        "https://harbor.example/v2/": {"username": "u", "password": "p"},
        DOCKER_HUB_CONFIG_KEY: {"auth": b64("hub:pw:with:colons")},
    }})
    found = lookup("basic.pulltrace.test", env)
    assert (found.username, found.password) == ("admin", "admin-pass")
    found = lookup("harbor.example", env)
    assert (found.username, found.password) == ("u", "p")
    # docker.io names use the v1 index key; the password keeps its colons.
    found = lookup("docker.io", env)
    assert (found.username, found.password) == ("hub", "pw:with:colons")
    assert lookup("other.example", env) is None


def test_identity_token_kept_by_docker_login(env):
    write_config(env, {"auths": {"hub.pulltrace.test": {"auth": b64("alice:"), "identitytoken": "rt-9"}}})
    found = lookup("hub.pulltrace.test", env)
    assert found.identity_token == "rt-9" and found.username == "alice"


def test_cred_helpers_per_registry_and_creds_store(env, tmp_path):
    write_config(env, {"credHelpers": {"helped.example": "pt-test", "token.example": "pt-test"},
                       "credsStore": "pt-test",
                       "auths": {"stored.example": {"auth": b64("file:pw")}}})
    found = lookup("helped.example", env)
    assert (found.username, found.password) == ("helper-user", "helper-pass")
    found = lookup("token.example", env)
    assert found.identity_token == "refresh-123" and not found.username
    found = lookup("docker.io", env)  # via credsStore, asked with the v1 index key
    assert found.username == "hubuser"
    # Not in the store: the file's own entry still counts; unknown everywhere: anonymous.
    assert lookup("stored.example", env).username == "file"
    assert lookup("nowhere.example", env) is None
    asked = (tmp_path / "helper.log").read_text().split()
    assert asked[:3] == ["helped.example", "token.example", DOCKER_HUB_CONFIG_KEY]


def test_helper_missing_or_broken_is_a_one_line_auth_error(env):
    write_config(env, {"credHelpers": {"a.example": "does-not-exist", "broken.example": "pt-test"}})
    with pytest.raises(AuthError, match="docker-credential-does-not-exist is not on PATH"):
        lookup("a.example", env)
    with pytest.raises(AuthError, match="not credentials JSON"):
        lookup("broken.example", env)


def test_malformed_config_names_the_file(env):
    Path(env["DOCKER_CONFIG"], "config.json").write_text("{not json")
    with pytest.raises(AuthError, match="cannot read docker config"):
        lookup("x.example", env)


def test_credentials_repr_hides_secrets():
    from pulltrace.client.credentials import Credentials

    assert "s3cret" not in repr(Credentials("u", "s3cret", "tok"))
