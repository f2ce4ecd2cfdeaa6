"""What `lab up` says before it starts anything: who holds a port, and that it needs root."""

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
