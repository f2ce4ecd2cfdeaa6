"""What `lab up` says before it starts anything: who holds a port or a socket, and that it needs root."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from pulltrace.lab import ports


def test_a_port_in_use_names_the_port_and_the_process_holding_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        holder = ports.listener(port)
    assert holder is not None
    message = holder.describe()
    assert message == f"port {port} is already in use by {holder.command} (pid {os.getpid()})"
    with open("/proc/self/comm") as comm:
        assert holder.command == comm.read().strip()


def test_a_free_port_has_no_holder():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert ports.listener(port) is None


def test_a_socket_file_left_by_a_killed_server_is_removed_so_the_next_one_can_bind(tmp_path):
    path = tmp_path / "origin.sock"
    with socket.socket(socket.AF_UNIX) as left:
        left.bind(str(path))
        left.listen()
    assert path.exists()  # closing a unix socket leaves its file, as SIGKILL does to nginx's
    with socket.socket(socket.AF_UNIX) as again, pytest.raises(OSError, match="in use"):
        again.bind(str(path))
    assert ports.claim_unix_socket(path) is None
    with socket.socket(socket.AF_UNIX) as next_server:
        next_server.bind(str(path))  # what nginx could not do in a fresh CI run


def test_a_unix_socket_someone_listens_on_is_named_and_kept(tmp_path):
    path = tmp_path / "origin.sock"
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(path))
        live.listen()
        holder = ports.claim_unix_socket(path)
        assert holder is not None
        assert holder.describe() == f"unix socket {path} is already in use by {holder.command} (pid {os.getpid()})"
    assert path.exists()


def test_a_missing_unix_socket_is_free(tmp_path):
    assert ports.claim_unix_socket(tmp_path / "none.sock") is None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to nobody")
def test_lab_up_as_an_ordinary_user_says_it_needs_root_in_one_line(tmp_path):
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable]
    env = {"PATH": os.environ["PATH"], "PULLTRACE_LAB_DIR": str(tmp_path / "state"), "HOME": str(tmp_path)}
    if subprocess.run([*as_nobody, "-c", "import pulltrace"], capture_output=True, env=env, cwd=tmp_path).returncode:
        pytest.skip(f"{sys.executable} cannot run as nobody here (it lives under a private home)")
    result = subprocess.run([*as_nobody, "-m", "pulltrace", "lab", "up"],
                            capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert "needs root" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="preflight checks root first")
def test_a_missing_binary_names_its_debian_package(monkeypatch):
    from pulltrace.errors import UserError
    from pulltrace.lab import lab

    monkeypatch.setattr(lab, "REQUIRED", {"/nonexistent/bin/docker-registry": "docker-registry"})
    with pytest.raises(UserError) as e:
        lab.preflight()
    assert str(e.value) == (
        "/nonexistent/bin/docker-registry not found: install the Debian package docker-registry "
        "(apt-get install docker-registry)"
    )
