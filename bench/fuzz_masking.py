"""Fuzz the masking: generated pulls and texts with planted secrets, and pathological
inputs of 64 KiB to 1 MiB; record the results in bench/RESULTS.md (fuzz_masking section).

    .venv/bin/python bench/fuzz_masking.py [--inputs 10000] [--outputs-every 10] [--seed 1] [--no-write]

Counts, per generator: unhandled exceptions, slow inputs (> 1 s), leaks (a planted
secret's tail found in the masked model or in any output format), and for texts
non-idempotent results and JSON made invalid. Pathological inputs are timed at three
sizes: linear time shows as a constant time per MiB.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "unit"))

from results import write_section  # noqa: E402  (bench/, the script's own folder)
from test_masking_plants import (  # noqa: E402 (the generators live beside the property tests)
    any_secret,
    api_key_secret,
    jwt_secret,
    leaked,
    opaque_secret,
    plant_pull,
)

from pulltrace.pipeline import build_trace  # noqa: E402
from pulltrace.redact import mask_exchange, mask_json_text, mask_text, mask_trace  # noqa: E402
from pulltrace.render.outputs import FORMATS, render  # noqa: E402

ROUNDS = ""
BEGIN, END = "<!-- fuzz_masking:begin -->", "<!-- fuzz_masking:end -->"
SLOW = 1.0
KIB, MIB = 1024, 1024 * 1024


@dataclass
class Tally:
    name: str
    inputs: int = 0
    exceptions: int = 0
    slow: int = 0
    leaks: int = 0
    other: int = 0  # non-idempotent or JSON made invalid
    slowest: float = 0.0
    total: float = 0.0
    first_failures: list[str] = field(default_factory=list)

    def record(self, seconds: float) -> None:
        self.inputs += 1
        self.total += seconds
        self.slowest = max(self.slowest, seconds)
        if seconds > SLOW:
            self.slow += 1

    def fail(self, what: str) -> None:
        if len(self.first_failures) < 5:
            self.first_failures.append(what[:300])


def _model_text(value: object) -> str:
    return json.dumps(asdict(value), ensure_ascii=False, default=str)  # type: ignore[call-overload]


def fuzz_pulls(n: int, outputs_every: int, seed: int) -> tuple[Tally, Tally]:
    """Generated pulls masked as a source masks them; every k-th also rendered in every
    format, both masked at the source and masked only by the final pass."""
    model, outputs = Tally("pulls: model (mask_exchange)"), Tally(f"pulls: {len(FORMATS)} formats × 2 paths")
    rnd = random.Random(seed)
    for i in range(n):
        if i % 1000 == 0:
            print(f"pulls: {i:,}/{n:,}", file=sys.stderr, flush=True)
        plant = plant_pull(rnd)
        t0 = time.perf_counter()
        try:
            masked = [mask_exchange(ex) for ex in plant.exchanges]
            found = leaked(plant, "\n".join(_model_text(ex) for ex in masked))
        # A fuzz run counts every failure instead of stopping at the first.
        except Exception:  # noqa: BLE001
            model.exceptions += 1
            model.fail(traceback.format_exc(limit=3))
            continue
        model.record(time.perf_counter() - t0)
        if found:
            model.leaks += 1
            model.fail(f"seed {seed} input {i}: {found} planted in {plant.places}")
        if outputs_every and i % outputs_every == 0:
            try:
                texts = {}
                at_source = build_trace(masked, "fuzz")
                for ex in plant.exchanges:
                    ex.secrets_masked = True  # a trace whose flags lie
                lying = build_trace(plant.exchanges, "fuzz")
                for fmt in FORMATS:
                    t0 = time.perf_counter()
                    texts[f"{fmt} (source)"] = render(at_source, fmt)
                    outputs.record(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    texts[f"{fmt} (final pass)"] = render(mask_trace(lying), fmt)
                    outputs.record(time.perf_counter() - t0)
            # A fuzz run counts every failure instead of stopping at the first.
            except Exception:  # noqa: BLE001
                outputs.exceptions += 1
                outputs.fail(traceback.format_exc(limit=3))
                continue
            bad = {k: leaked(plant, v) for k, v in texts.items() if leaked(plant, v)}
            if bad:
                outputs.leaks += 1
                outputs.fail(f"seed {seed} input {i}: {bad} planted in {plant.places}")
    return model, outputs


_NOISE = [" ", "&", "=", "?", ":", ": ", "\n", '"', "\\", "/", ".", "@", "%3D", "%26", "\\u0026", "eyJ", "…",
          "<", ">", ";", ",", "{", "}", "[", "]", "Bearer", "token", "Signature", "https://", "a", "Z9"]


def _planted_text(rnd: random.Random) -> tuple[str, set[str]]:
    """Free text: noise with secrets in contexts a rule claims (a scheme, a pair, a key,
    a URL's userinfo, a JSON key, a vendor prefix, a bare JWT)."""
    parts: list[str] = []
    needles: set[str] = set()
    for _ in range(rnd.randint(1, 40)):
        if rnd.random() < 0.8:
            parts.append(rnd.choice(_NOISE))
            continue
        secret = rnd.choice([jwt_secret, opaque_secret])(rnd)
        context = rnd.randrange(7)
        if context == 0:
            parts.append(f" Bearer {secret} ")
        elif context == 1:
            parts.append(f"&{rnd.choice(['password', 'sig', 'X-Amz-Signature', 'access_token'])}={secret}&")
        elif context == 2:
            parts.append(f' {{"{rnd.choice(["token", "accessToken", "refresh_token"])}": "{secret}"}} ')
        elif context == 3:
            parts.append(f" https://u:{secret}@h.test/ ")
        elif context == 4:
            secret = api_key_secret(rnd)
            parts.append(f" {secret} ")
        elif context == 5:
            secret = jwt_secret(rnd)
            parts.append(f"/{secret}/")
        else:
            parts.append(f"\nX-Auth-Token: {secret}\n")
        needles.add(secret[-16:])
    return "".join(parts), needles


def fuzz_texts(n: int, seed: int) -> Tally:
    tally = Tally("free text (mask_text)")
    rnd = random.Random(seed + 1)
    for i in range(n):
        text, needles = _planted_text(rnd)
        t0 = time.perf_counter()
        try:
            once = mask_text(text)
            twice = mask_text(once)
        # A fuzz run counts every failure instead of stopping at the first.
        except Exception:  # noqa: BLE001
            tally.exceptions += 1
            tally.fail(traceback.format_exc(limit=3))
            continue
        tally.record(time.perf_counter() - t0)
        if [s for s in needles if s in once]:
            tally.leaks += 1
            tally.fail(f"input {i}: {text!r}")
        if twice != once:
            tally.other += 1
            tally.fail(f"input {i}: not idempotent: {text!r}")
    return tally


def _document(rnd: random.Random, depth: int = 0) -> object:
    roll = rnd.random()
    if depth > 4 or roll < 0.4:
        return rnd.choice([any_secret(rnd), rnd.randint(-9, 9), None, True, "plain", f"https://c.test/?sig={any_secret(rnd)}"])
    if roll < 0.7:
        return [_document(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    keys = ["token", "accessToken", "refresh_token", "password", "name", "value", "auth", "msg", "x"]
    return {rnd.choice(keys): _document(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}


def fuzz_json(n: int, seed: int) -> Tally:
    tally = Tally("JSON documents (mask_json_text)")
    rnd = random.Random(seed + 2)
    for i in range(n):
        doc = _document(rnd)
        text = json.dumps(doc, indent=rnd.choice([None, 2]), ensure_ascii=rnd.random() < 0.5)
        t0 = time.perf_counter()
        try:
            masked = mask_json_text(text)
        # A fuzz run counts every failure instead of stopping at the first.
        except Exception:  # noqa: BLE001
            tally.exceptions += 1
            tally.fail(traceback.format_exc(limit=3))
            continue
        tally.record(time.perf_counter() - t0)
        try:
            json.loads(masked)
        except ValueError:
            tally.other += 1
            tally.fail(f"input {i}: invalid JSON from {text!r}")
    return tally


def pathological(size: int) -> dict[str, str]:
    """Inputs built to make a backtracking pattern explode, `size` characters each."""
    def rep(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    jwt = jwt_secret(random.Random(3))
    return {
        "`eyJ` repeated (the old JWT pattern's quadratic case)": rep("eyJ"),
        "`eyJ…` blocks with a dot every 300 chars": rep("eyJ" * 100 + "."),
        "dotted run `a.a.a…`": rep("a."),
        "one unclosed string of escaped quotes": '"' + rep('\\"')[: size - 1],
        "quotes only": rep('"'),
        "backslashes only": rep("\\"),
        "`a=b&` pairs": rep("a=b&"),
        "`sig=b&` secret pairs": rep("sig=b&"),
        "`token: x` lines": rep("token: x\n"),
        "`Bearer ` repeated": rep("Bearer "),
        "`Bearer ` + one long credential": "Bearer " + rep("a")[: size - 7],
        "`a://` repeated": rep("a://"),
        "`a://u:` + no `@`": "a://u:" + rep("b")[: size - 6],
        "`a://u:p@` repeated": rep("a://u:p@"),
        "JSON keys `\"token\":\"abc\",`": rep('{"token":"abc",'),
        "JSON `\"a\":` keys": rep('"a":'),
        "JSON nested `{\"a\":`": rep('{"a":'),
        "`%26a%3D` encoded pairs": rep("%26a%3D"),
        "`\\u0026a=` escaped pairs": rep("\\u0026a="),
        "a JWT repeated": rep(jwt + " "),
        "prose": rep("the token service answered 401 "),
        "`@` only": rep("@"),
        "`=` only": rep("="),
    }


OLD_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")  # before issue 11


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_pathological() -> list[tuple[str, float, float, float]]:
    rows = []
    sizes = (64 * KIB, 256 * KIB, MIB)
    cases = {size: pathological(size) for size in sizes}
    for name in cases[MIB]:
        times = [_time(lambda s=cases[size][name]: mask_text(s)) for size in sizes]
        rows.append((name, times[0], times[2], times[2] / (MIB / MIB)))
    return rows


def bench_old_pattern() -> list[tuple[int, float]]:
    sizes = (16 * KIB, 32 * KIB, 64 * KIB)
    return [(size, _time(lambda s="eyJ" * (size // 3): OLD_JWT_RE.sub("", s))) for size in sizes]


def bench_final_pass() -> tuple[int, float, float]:
    """The final pass over bench/render.py's 10,000-exchange trace, and an HTML render of
    it on the same machine at the same moment (the machine is shared: compare the two)."""
    sys.path.insert(0, str(HERE))
    from render import generated_trace

    from pulltrace.render.html import render_html

    trace = generated_trace(10_000)
    exchanges = sum(len(s.steps) for s in trace.sessions)
    return exchanges, _time(lambda: mask_trace(trace)), _time(lambda: render_html(trace))


def report(tallies: list[Tally], patho: list[tuple[str, float, float, float]], old: list[tuple[int, float]],
           final: tuple[int, float, float], seed: int) -> str:
    lines = [
        "## masking fuzz (bench/fuzz_masking.py)",
        "",
        f"Seed {seed}; {ROUNDS}CPython {platform.python_version()}, 2 shared cores. A leak is a planted secret's last "
        "16 characters (or their URL-encoded form) found in the masked model or an output; slow is > 1 s per input.",
        "",
        "Pulls: a token-auth pull (ping, token, manifest, 307, CDN GET) with 1–6 secrets planted at random "
        "(tests/unit/test_masking_plants.py); every k-th is also rendered in every format, masked at the source "
        "and masked only by the final pass of a trace whose flags lie (rows: one render each).",
        "",
        "| generator | inputs | exceptions | slow | leaks | other | mean | slowest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tallies:
        mean = t.total / t.inputs if t.inputs else 0.0
        lines.append(f"| {t.name} | {t.inputs:,} | {t.exceptions} | {t.slow} | {t.leaks} | {t.other} | "
                     f"{mean * 1000:.1f} ms | {t.slowest * 1000:.0f} ms |")
    lines += ["", "\"other\": a text whose second masking differs from its first, or JSON made invalid.", ""]
    for t in tallies:
        for failure in t.first_failures:
            lines.append(f"- {t.name}: `{failure}`")
    lines += [
        "",
        "Pathological inputs through `mask_text` (every pass). Linear time shows as the same time per MiB "
        "at every size; 1 MiB is 16× the largest preview the addon keeps (64 KiB).",
        "",
        "| input | 64 KiB | 1 MiB | per MiB at 64 KiB | per MiB at 1 MiB |",
        "|---|---|---|---|---|",
    ]
    for name, t64, t1m, _ in patho:
        lines.append(f"| {name} | {t64 * 1000:.0f} ms | {t1m * 1000:.0f} ms | {t64 * 16:.2f} s | {t1m:.2f} s |")
    worst = max(patho, key=lambda r: r[2])
    lines += [
        "",
        f"Slowest: {worst[0]}, {worst[2]:.2f} s per MiB ({worst[1] * 1000:.0f} ms for a 64 KiB preview).",
        "The JWT pattern masking used before (`eyJ[…]{4,}\\.[…]*\\.[…]*`) on `eyJ` repeated: "
        + ", ".join(f"{size // KIB} KiB {t:.2f} s" for size, t in old)
        + " (quadratic: twice the input, four times the time).",
        f"Final pass (`mask_trace`) over bench/render.py's trace of {final[0]:,} exchanges: {final[1]:.2f} s; "
        f"rendering that trace to HTML at the same moment took {final[2]:.2f} s.",
    ]
    return "\n".join(lines)


def write_results(text: str) -> None:
    write_section(f"{BEGIN}\n{text}\n{END}", BEGIN, END)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=10_000, help="inputs per generator")
    p.add_argument("--outputs-every", type=int, default=10, help="render every k-th pull in every format")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print, do not update bench/RESULTS.md")
    args = p.parse_args()
    model, outputs = fuzz_pulls(args.inputs, args.outputs_every, args.seed)
    print("texts, JSON", file=sys.stderr, flush=True)
    tallies = [model, outputs, fuzz_texts(args.inputs, args.seed), fuzz_json(args.inputs, args.seed)]
    print("pathological inputs", file=sys.stderr, flush=True)
    patho = bench_pathological()
    text = report(tallies, patho, bench_old_pattern(), bench_final_pass(), args.seed)
    print(text)
    if not args.no_write:
        write_results(text)
    return 0 if all(t.exceptions == t.slow == t.leaks == t.other == 0 for t in tallies) else 1


if __name__ == "__main__":
    raise SystemExit(main())
