"""`pulltrace capture` and `pulltrace mirror` as a user types them: exit statuses and one-line errors.

These run the real command and a real in-process mitmproxy; nothing here needs the lab.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from pulltrace.capture.dockerd import check_root, find_dockerd, is_docker_command
from pulltrace.capture.inprocess import InProcessProxy, ProxyStartError
from pulltrace.commands.main import main
from pulltrace.errors import UserError


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_capture_exits_with_the_commands_status(tmp_path, capsys):
    status = main(["capture", "-o", str(tmp_path / "out"), "--", sys.executable, "-c", "raise SystemExit(3)"])
    assert status == 3


def test_capture_gives_the_command_the_proxy_and_the_ca_and_removes_them_afterwards(tmp_path, capfd):
    probe = ("import os, pathlib; ca = pathlib.Path(os.environ['PULLTRACE_CA_CERT']); "
             "print(os.environ['HTTPS_PROXY'], ca, ca.is_file(), os.environ.get('NO_PROXY'), "
             "ca.read_bytes() in pathlib.Path(os.environ['SSL_CERT_FILE']).read_bytes())")
    env_before = dict(os.environ)
    os.environ["NO_PROXY"] = "hub.pulltrace.test"
    try:
        assert main(["capture", "-o", str(tmp_path / "out"), "--", sys.executable, "-c", probe]) == 0
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    proxy, ca, exists, no_proxy, bundled = capfd.readouterr().out.split()
    assert proxy.startswith("http://127.0.0.1:") and int(proxy.rsplit(":", 1)[1]) > 0
    assert (exists, no_proxy, bundled) == ("True", "None", "True")
    assert not os.path.exists(ca)  # the run's CA (and its key) went with the run


def test_an_unknown_command_is_one_line(tmp_path, capsys):
    assert main(["capture", "-o", str(tmp_path), "--", "no-such-command-here", "x"]) == 1
    assert _one_line_error(capsys) == "pulltrace: no-such-command-here: command not found"


def test_no_command_is_one_line(capsys):
    assert main(["capture"]) == 1
    assert "no command to capture" in _one_line_error(capsys)


def test_docker_commands_are_recognised_by_the_programs_name():
    assert is_docker_command(["/usr/local/bin/docker", "pull", "x"])
    assert not is_docker_command(["podman", "pull", "x"])
    assert not is_docker_command([])


def test_docker_without_root_is_one_line():
    with pytest.raises(UserError, match="throwaway dockerd, which needs root: run `sudo -E pulltrace capture"):
        check_root(euid=1000)
    check_root(euid=0)


def test_docker_without_dockerd_is_one_line(tmp_path):
    with pytest.raises(UserError, match="dockerd not found on PATH"):
        find_dockerd(path=str(tmp_path))


def test_a_port_in_use_is_one_line():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proxy = InProcessProxy({"listen_host": "127.0.0.1", "listen_port": port}, [])
        with pytest.raises(ProxyStartError) as e:
            proxy.start()
    assert "\n" not in str(e.value)
    assert f"127.0.0.1:{port}" in str(e.value) and "address already in use" in str(e.value)


def test_mirror_on_a_port_in_use_names_who_holds_it(capsys):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["mirror", "docker.io", "--listen", f"127.0.0.1:{port}"]) == 1
    line = _one_line_error(capsys)
    assert line.startswith(f"pulltrace: --listen 127.0.0.1:{port}: port {port} is already in use by ")
    assert f"(pid {os.getpid()})" in line and line.endswith("; choose another port")


def test_mirror_with_a_bad_listen_address_is_one_line(capsys):
    assert main(["mirror", "docker.io", "--listen", "nowhere"]) == 1
    assert _one_line_error(capsys) == "pulltrace: --listen nowhere: give HOST:PORT, e.g. 127.0.0.1:5000"


def test_mirror_of_an_upstream_that_does_not_answer_is_one_line(capsys):
    with socket.socket() as s:  # a port with no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        listen = free.getsockname()[1]
    assert main(["mirror", f"http://127.0.0.1:{port}", "--listen", f"127.0.0.1:{listen}"]) == 1
    assert _one_line_error(capsys).startswith(f"pulltrace: http://127.0.0.1:{port} does not answer: ")


def test_print_config_prints_and_exits(capsys):
    assert main(["mirror", "docker.io", "--listen", "127.0.0.1:5000", "--print-config", "podman"]) == 0
    assert 'location = "docker.io"' in capsys.readouterr().out


def test_sigterm_ends_the_command_and_leaves_no_temporary_ca(tmp_path):
    import signal
    import subprocess
    from pathlib import Path

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    child = "import time; print('ready', flush=True); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-m", "pulltrace", "capture", "-o", str(tmp_path / "out"), "--",
                             sys.executable, "-c", child], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    assert [p.name.startswith("pulltrace-capture-") for p in tmpdir.iterdir()] == [True]  # the CA, meanwhile
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM  # the command's own end, passed on
    assert list(tmpdir.iterdir()) == []
