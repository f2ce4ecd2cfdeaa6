"""The doctor on real docker pulls that fail, captured through mitmdump with the addon.

Each failing pull is read three ways and must name the same cause first: `pulltrace doctor
--capture` on mitmdump's flow file, on the addon's trace JSON, and the addon's own console
table as the pull ended.
"""

from __future__ import annotations

import re

import pytest

from pulltrace.commands.main import main

pytestmark = pytest.mark.lab

WITH_FLOWS = pytest.mark.parametrize("mitm", [{"flows": True}], indirect=True, ids=["addon+flows"])

# (reference, what docker says, the rule the doctor names first, words of its title)
CASES = {
    # Anonymous token with no actions; docker answers as for a missing repository.
    "anonymous-private": ("{hub}/private/secret", "pull access denied", "auth.anonymous-private",
                          "needs a login; the pull was anonymous"),
    "unknown-tag": ("{hub}/library/tiny:nope", "manifest unknown", "manifest.unknown",
                    "Tag nope not found in library/tiny"),
    # Docker Hub's spent quota: the HEAD by tag still answers, the GET by digest is 429.
    "rate-limited": ("ratelimit.pulltrace.test/library/tiny", "toomanyrequests", "ratelimit.exceeded",
                     "refused the pull: rate limit reached"),
    # The blob's 307 names an expired presigned URL; the CDN answers S3's 403 XML.
    "cdn-expired": ("expired.pulltrace.test/library/tiny", "403", "blob.cdn-refused",
                    "The download host expired-cdn.pulltrace.test refused the blob"),
}


def doctor(capsys, path) -> tuple[int, str]:
    status = main(["doctor", "--capture", str(path)])
    return status, capsys.readouterr().out


def first_rule(text: str) -> str:
    match = re.search(r"^  rule:  (\S+)$", text, re.M)
    assert match, text
    return match.group(1)


def flat(text: str) -> str:
    return " ".join(text.split())


@WITH_FLOWS
@pytest.mark.parametrize("case", CASES)
def test_doctor_names_the_cause_of_a_failed_docker_pull(lab, mitm, daemon, capsys, case):
    ref, docker_says, rule, title = CASES[case]
    proc = daemon.docker("pull", ref.format(hub=lab.host("hub")), check=False)
    assert proc.returncode != 0 and docker_says in proc.stderr, proc.stderr
    mitm.trace()

    for capture in (mitm.flows, mitm.out / "pulltrace.json"):
        status, out = doctor(capsys, capture)
        assert status == 1, out
        assert first_rule(out) == rule, out
        assert title in out
        (heading,) = [line for line in out.splitlines() if line.startswith("Session ")]
        assert heading.startswith("Session 1: pull ") and "(docker/" in heading

    # The addon printed the pull's table as it ended, its findings under it, this one first.
    console = mitm.console()
    assert "Findings:" in console, console[-2000:]
    first = flat(console.split("Findings:", 1)[1]).split("- [")[1]
    assert first.startswith("error] ") and title in first, first
