"""Mirror rules: a mirror that failed and the client fell back to the upstream registry."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from pulltrace.diagnose.base import describe, finding, ok, position_of, status_text
from pulltrace.diagnose.facts import host_of, is_manifest_step, reference_of, repository_of, same_host
from pulltrace.model import Finding, Session, Severity, Step


def _ns(step: Step) -> str | None:
    """containerd adds `?ns=<upstream>` to every request it sends to a mirror."""
    for key, value in parse_qsl(urlsplit(step.exchange.url).query):
        if key == "ns":
            return value
    return None


def fallback(session: Session, **_: object) -> list[Finding]:
    """The same manifest failed on one host and succeeded on another, later."""
    manifests = [s for s in session.steps if is_manifest_step(s)]
    for step in manifests:
        if ok(step):
            continue
        if step.exchange.status == 401 and not step.exchange.request_header("authorization"):
            continue  # the challenge before a token, not a failure
        mirror = host_of(step.exchange.url)
        pos = position_of(session, step)
        for later in session.steps[pos + 1:]:
            if not (is_manifest_step(later) and ok(later)):
                continue
            if same_host(host_of(later.exchange.url), mirror):
                break  # the mirror answered after all
            if _short_name(repository_of(later)) == _short_name(repository_of(step)) and (
                reference_of(later) == reference_of(step) or _ns(step) is not None
            ):
                upstream = host_of(later.exchange.url)
                return [finding(
                    "mirror.fallback",
                    Severity.WARNING,
                    f"The mirror {mirror} failed; the image came from {upstream} instead",
                    f"{describe(step)} got {status_text(step)}, so the client fell back to the upstream registry "
                    f"{upstream} ({describe(later)} succeeded). The pull worked, but without the mirror: slower, "
                    "and counted against the upstream's rate limit.",
                    f"Check the mirror {mirror}: is it up, does it reach its upstream (its logs), and does it hold "
                    f"{repository_of(step)}? A pull-through cache fetches on first use and needs upstream credentials "
                    "for private images.",
                    [step, later],
                )]
    return []


def _short_name(repo: str | None) -> str | None:
    return repo.removeprefix("library/") if repo else None


RULES = (fallback,)


def fallback_across_sessions(sessions: list[Session]) -> None:
    """A mirror that failed before any image request (its ping) is grouped as a session of its
    own, apart from the pull that then succeeded upstream. Name the fallback on the pull, and
    lower the failed mirror's errors to warnings: the pull itself worked."""
    for i, failed in enumerate(sessions):
        if any(is_manifest_step(s) and ok(s) for s in failed.steps) or not failed.steps:
            continue
        if not any(f.severity == Severity.ERROR for f in failed.findings):
            continue
        mirror = host_of(failed.steps[0].exchange.url)
        start = failed.steps[-1].exchange.started_at
        for later in sessions[i + 1:]:
            pulled = [s for s in later.steps if is_manifest_step(s) and ok(s)]
            if later.client != failed.client or not pulled:
                continue
            upstream = host_of(pulled[0].exchange.url)
            if same_host(upstream, mirror) or later.steps[0].exchange.started_at - start > 30:
                continue
            for f in failed.findings:
                if f.severity == Severity.ERROR:
                    f.severity = Severity.WARNING
                    f.cause += f" The client then fell back to {upstream}, and the pull worked."
            later.findings.insert(0, finding(
                "mirror.fallback",
                Severity.WARNING,
                f"The mirror {mirror} failed; the image came from {upstream} instead",
                f"The client first tried {mirror} ({describe(failed.steps[-1])} got {status_text(failed.steps[-1])}), "
                f"then pulled from {upstream}. The pull worked, but without the mirror: slower, and counted against "
                "the upstream's rate limit.",
                f"Fix the mirror {mirror} (see the findings of its own session), "
                "or remove it from the client's mirror list.",
                [pulled[0]],
            ))
            break
