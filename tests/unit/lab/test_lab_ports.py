"""The lab's internal ports stay out of the kernel's ephemeral range: a port in it can be the local
port of any outgoing connection at the moment a registry restarts (seen: `registry-gitlab did not
start: listen tcp 127.0.0.1:35106: bind: address already in use`)."""

from __future__ import annotations

import json
import socket

from pulltrace.lab.settings import (
    INTERNAL_PORTS,
    OLD_DEFAULT_PORT_BASE,
    LabSettings,
    Ports,
    default_port_base,
    ephemeral_ports,
    load_settings,
)


def _internal(p: Ports) -> list[int]:
    return [p.token, p.hub, p.gcr, p.basic, p.harbor, p.mirror, p.gitlab]


def test_a_new_lab_uses_ports_no_outgoing_connection_of_this_machine_can_hold():
    low, high = ephemeral_ports()
    ports = _internal(LabSettings().ports)
    assert len(ports) == INTERNAL_PORTS and not any(low <= p <= high for p in ports)
    # What the kernel gives an outgoing connection really is in that range.
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as c:
        assert low <= c.getsockname()[1] <= high


def test_the_base_moves_out_of_any_range_and_stays_put_where_nothing_is_outside():
    assert default_port_base((32768, 60999)) == 30100
    assert default_port_base((20000, 60999)) == 19000  # below a wider range
    assert default_port_base((1500, 40000)) == 40001  # no room below: above it
    assert default_port_base((1024, 65535)) == 30100  # the whole range: nothing is safe, keep the default


def test_a_lab_saved_with_the_old_base_moves_out_of_the_range_and_a_chosen_base_is_kept(tmp_path):
    old = LabSettings(state_dir=tmp_path, ports=Ports.from_base(tls=8443, base=OLD_DEFAULT_PORT_BASE))
    old.save()
    moved = load_settings(tmp_path)
    assert moved is not None
    assert moved.ports == Ports.from_base(tls=8443, base=default_port_base())
    chosen = LabSettings(state_dir=tmp_path, ports=Ports.from_base(base=41000))
    chosen.save()
    assert json.loads((tmp_path / "lab.json").read_text())["ports"]["token"] == 41000
    assert load_settings(tmp_path) == chosen
