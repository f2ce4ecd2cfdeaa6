"""`pulltrace lab …`: up, down, status, env, docker start|stop."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable

from pulltrace.commands.main import Exit
from pulltrace.commands.vocabulary import command_parser
from pulltrace.errors import UserError
from pulltrace.lab.settings import LabSettings, Ports, load_settings, state_dir_from_env


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The action of a command given without its ACTION: its help, and the usage exit status."""

    def show(args: argparse.Namespace) -> int:
        parser.print_help()
        return Exit.USAGE

    return show


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = command_parser(subparsers, "lab", help="run real registries on this machine (the lab)",
                         description="Real registry servers on this machine reproducing, offline, "
                                     "the registry flows of real-world pulls.",
                         examples=["pulltrace lab up", "pulltrace lab status --json",
                                   'eval "$(pulltrace lab env)"', "pulltrace lab down"])
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    lab.set_defaults(func=_usage(lab))

    up = command_parser(sub, "up", help="start the lab (idempotent)", description="Start the lab (idempotent).",
                        examples=["pulltrace lab up", "pulltrace lab up --large --no-docker"])
    up.add_argument("--large", action="store_true", default=None, help="also push library/large (≥ 300 MB)")
    up.add_argument("--tls-port", type=int, help="nginx's TLS port for every lab host (default 443)")
    up.add_argument("--plain-port", type=int, help="port of the plain HTTP registry (default 5000)")
    up.add_argument("--port-base", type=int,
                    help="first loopback port of the internal daemons: +0 token service, +1 hub, +2 gcr, "
                         "+3 basic, +4 harbor, +5 mirror, +6 gitlab (default 30100, below the kernel's ephemeral "
                         "ports, which any outgoing connection may hold)")
    up.add_argument("--domain", help="domain of the lab hostnames (default pulltrace.test)")
    up.add_argument("--token-lifetime", type=int, help="token lifetime in seconds (default 300)")
    up.add_argument("--brief-lifetime", type=int, help="token lifetime of user brief in seconds (default 4)")
    up.add_argument("--no-docker", action="store_true", help="do not start the default lab dockerd")
    up.set_defaults(func=cmd_up)

    down = command_parser(sub, "down", help="stop what the lab started and remove its /etc/hosts block",
                          description="Stop what the lab started (by pid) and remove its /etc/hosts block.",
                          examples=["pulltrace lab down", "pulltrace lab down --purge"])
    down.add_argument("--purge", action="store_true",
                      help="also delete the state dir, the lab CA from the trust store and /etc/docker/certs.d entries")
    down.set_defaults(func=cmd_down)

    status = command_parser(sub, "status", help="one line per endpoint: URL, health, the flow it shows",
                            description="One line per endpoint and lab dockerd; exit status 1 when an "
                                        "endpoint or the default dockerd is down.",
                            examples=["pulltrace lab status", "pulltrace lab status --json | jq .healthy"])
    status.add_argument("--json", action="store_true", help="print the endpoints and daemons as JSON")
    status.set_defaults(func=cmd_status)

    env = command_parser(sub, "env", help="shell variables for using the lab",
                         description="Shell variables for using the lab: DOCKER_HOST, SSL_CERT_FILE, the URLs.",
                         examples=['eval "$(pulltrace lab env)"', 'eval "$(pulltrace lab env --docker captured)"'])
    env.add_argument("--docker", default="default", metavar="NAME", help="the lab dockerd DOCKER_HOST names")
    env.set_defaults(func=cmd_env)

    dock = command_parser(sub, "docker", help="start or stop a lab dockerd",
                          description="Start or stop a lab dockerd (one per proxy setting).",
                          examples=["pulltrace lab docker start --name captured --proxy http://127.0.0.1:8080",
                                    "pulltrace lab docker stop captured"])
    dsub = dock.add_subparsers(dest="docker_command", metavar="ACTION")
    dock.set_defaults(func=_usage(dock))
    start = command_parser(dsub, "start", help="start a lab dockerd (one per proxy setting)",
                           description="Start a lab dockerd; it takes its proxy only at start.",
                           examples=["pulltrace lab docker start --name captured --proxy http://127.0.0.1:8080"])
    start.add_argument("--name", default="default")
    start.add_argument("--proxy", help="HTTP(S)_PROXY for the daemon, e.g. http://127.0.0.1:8080")
    start.set_defaults(func=cmd_docker_start)
    stop = command_parser(dsub, "stop", help="stop a lab dockerd", description="Stop a lab dockerd.",
                          examples=["pulltrace lab docker stop captured"])
    stop.add_argument("name")
    stop.set_defaults(func=cmd_docker_stop)


def _settings_for_up(args: argparse.Namespace) -> LabSettings:
    state_dir = state_dir_from_env()
    s = load_settings(state_dir) or LabSettings(state_dir=state_dir)
    p = s.ports
    base = args.port_base if args.port_base is not None else p.token
    ports = Ports.from_base(
        tls=args.tls_port if args.tls_port is not None else p.tls,
        plain=args.plain_port if args.plain_port is not None else p.plain,
        base=base,
    )
    for port in (ports.tls, ports.plain, ports.token, ports.mirror):
        if not 0 < port < 65536:
            raise UserError(f"port {port} is out of range")
    return dataclasses.replace(
        s,
        ports=ports,
        large=bool(args.large) or s.large,
        domain=args.domain or s.domain,
        token_lifetime=args.token_lifetime or s.token_lifetime,
        brief_lifetime=args.brief_lifetime or s.brief_lifetime,
    )


def _lab(settings: LabSettings | None = None):
    from pulltrace.lab.lab import Lab

    return Lab(settings) if settings else Lab.load()


def cmd_up(args: argparse.Namespace) -> int:
    from pulltrace.lab.lab import require_root

    require_root()
    started = time.monotonic()
    lab = _lab(_settings_for_up(args))
    lab.up(progress=lambda step: print(f"lab: {step}…", file=sys.stderr), start_docker=not args.no_docker)
    print(f"lab is up in {time.monotonic() - started:.1f}s (state dir {lab.state_dir})")
    for st in lab.status():
        print(f"  {st.endpoint.name:<11} {st.endpoint.url:<36} {'ok' if st.healthy else 'DOWN ' + st.detail}")
    for d in lab.docker_daemons():
        if d.running():
            print(f"  {'docker:' + d.name:<14} {d.host}")
    print("users: admin/admin-pass (push, pull all), alice/alice-pass (pull team/*), brief/brief-pass (short tokens)")
    print('use it: eval "$(pulltrace lab env)"')
    return Exit.OK


def cmd_down(args: argparse.Namespace) -> int:
    lab = _lab()
    stopped = lab.down(purge=args.purge)
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}"
          + (f"; purged {lab.state_dir}" if args.purge else f"; data kept in {lab.state_dir}"))
    return Exit.OK


def cmd_status(args: argparse.Namespace) -> int:
    lab = _lab()
    if not lab.paths.settings.exists():
        print(f"the lab was never brought up in {lab.state_dir}: run `pulltrace lab up`")
        return Exit.FAILURE
    rows = lab.status()
    daemons = [(d, d.running()) for d in lab.docker_daemons()]
    # `lab up` starts the default daemon; others are started and stopped on request, so a
    # stopped one is reported, not a failure.
    healthy = all(st.healthy for st in rows) and all(up for d, up in daemons if d.name == "default")
    if args.json:
        print(json.dumps({
            "healthy": healthy,
            "endpoints": [{"name": st.endpoint.name, "url": st.endpoint.url, "healthy": st.healthy,
                           "detail": st.detail, "flow": st.endpoint.flow} for st in rows],
            "docker": [{"name": d.name, "host": d.host, "running": up, "proxy": d.proxy} for d, up in daemons],
        }, indent=2))
        return Exit.OK if healthy else Exit.FAILURE
    for st in rows:
        health = "ok" if st.healthy else "DOWN"
        print(f"{st.endpoint.name:<11} {st.endpoint.url:<36} {health:<4} {st.detail:<5} {st.endpoint.flow}")
    for d, up in daemons:
        health = "ok" if up else "DOWN" if d.name == "default" else "stopped"
        print(f"{'docker:' + d.name:<11} {d.host:<36} {health:<4} {'':<5} "
              f"lab dockerd (registry-mirrors → mirror){', proxy ' + d.proxy if d.proxy else ''}")
    return Exit.OK if healthy else Exit.FAILURE


def cmd_env(args: argparse.Namespace) -> int:
    for line in _lab().env_lines(args.docker):
        print(line)
    return Exit.OK


def cmd_docker_start(args: argparse.Namespace) -> int:
    lab = _lab()
    if not lab.ca_path.exists():
        raise UserError("the lab is not set up: run `pulltrace lab up` first")
    d = lab.docker(args.name, args.proxy)
    print(f"dockerd {d.name}: DOCKER_HOST={d.host} (containerd: {d.containerd_address})"
          + (f", proxy {d.proxy}" if d.proxy else ""))
    return Exit.OK


def cmd_docker_stop(args: argparse.Namespace) -> int:
    from pulltrace.lab.docker import stop_docker

    lab = _lab()
    print(f"dockerd {args.name}: {'stopped' if stop_docker(lab.settings, args.name) else 'was not running'}")
    return Exit.OK
