"""The narrow step table shortens a URL by whole names (issue 13: `…rary/tiny` and `cdn.p…test`
read as nothing): hosts lose whole leading labels, paths whole middle segments."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pulltrace.render.fmt import ELLIPSIS, display_width
from pulltrace.render.text import fit_request

DIGEST = "sha256:" + "5b0d5902" * 8


def test_the_registry_host_goes_first_and_the_path_keeps_what_was_asked():
    url = f"https://hub.pulltrace.test/v2/library/tiny/blobs/{DIGEST}"
    assert fit_request(url, 60, base_host="hub.pulltrace.test") == "/v2/library/tiny/blobs/sha256:5b0d59025b0d…"
    assert fit_request(url, 30, base_host="hub.pulltrace.test") == "/v2/…/blobs/sha256:5b0d5902…"
    assert fit_request(url, 22, base_host="hub.pulltrace.test") == "/v2/…/sha256:5b0d5902…"


def test_a_cdn_host_loses_whole_labels_and_its_query():
    url = f"https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/{DIGEST}/data?verify=1-abc"
    base = "registry-1.docker.io"
    assert fit_request(url, 20, base_host=base) == "….docker.com/…"
    assert fit_request(url, 34, base_host=base) == "….docker.com/registry-v2/…/data?…"
    assert fit_request(url, 50, base_host=base) == "….docker.com/registry-v2/…/sha256:5b0d5902…/data?…"
    assert fit_request(url, 120, base_host=base) == (
        "production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256:5b0d59025b0d…/data?verify=1-abc")

NAME = st.text(alphabet="abcdefghij-", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=4), st.lists(NAME, min_size=1, max_size=8), st.integers(20, 60))
def test_every_name_shown_is_whole_or_the_url_did_not_fit_at_all(labels, segments, width):
    host = ".".join(labels) + ".example"
    url = f"https://{host}/" + "/".join(segments)
    got = fit_request(url, width)
    names = set(labels) | {"example"} | set(segments)
    shown = [n for n in re.split(r"[./?]", got) if n and ELLIPSIS not in n]
    if all(n in names for n in shown):
        assert display_width(got) <= width
    else:
        # No whole-name form fitted: the last resort cuts a name, and says so with an ellipsis.
        assert ELLIPSIS in got
