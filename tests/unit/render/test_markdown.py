import re

from render_factory import PAYLOAD, hostile_trace, hub_alpine_trace, seed000_trace

from pulltrace.render.markdown import fence, md_text, render_markdown


def _table_rows(md: str, first_header: str) -> list[list[str]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_step_table_like_seed_000():
    md = render_markdown(seed000_trace(), lang="zh")
    assert "| 步骤 | 类型 | 请求 | 返回 | 耗时 |" in md
    rows = _table_rows(md, "步骤")
    assert [r[0] for r in rows] == [f"[{n}](#s1-{n})" for n in range(1, 6)]
    assert rows[0][2] == "GET https://daocloud.io/v2/ HTTP/1.1"
    assert rows[0][3].startswith("HTTP/1.1 401 Unauthorized<br>")
    assert "Www-Authenticate: Bearer realm=" in rows[0][3]
    assert rows[2][2].endswith("<br>Authorization: Bearer eyJ0eXAi…")
    assert "&amp;service=daocloud.io" in rows[1][2]
    assert "→ 重定向到 [#5](#s1-5)" in rows[3][3]


def test_transcripts_like_seed_001():
    md = render_markdown(hub_alpine_trace())
    block = md.split(
        "#### 2. token — GET /token?scope=repository%3Alibrary%2Falpine%3Apull&amp;service=registry.docker.io"
    )[1]
    body = block.split("```http\n", 1)[1].split("\n```", 1)[0]
    assert body.startswith("GET https://auth.docker.io/token?scope=")
    assert "\n\n\nHTTP/1.1 200 OK\nContent-Type: application/json\n\n{\n" in body
    assert '"expires_in": 300' in body
    assert "(blob content, not recorded)" in md


def test_secrets_stay_masked_in_markdown():
    trace = seed000_trace()
    raw = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
    ex = trace.sessions[0].steps[1].exchange
    ex.response_body_preview = f'{{"token":"{raw}","expires_in":300}}'
    ex.request_headers = [("Authorization", "Basic YWRtaW46YWRtaW4tcGFzcw==")]
    md = render_markdown(trace)
    assert raw not in md and "YWRtaW46YWRtaW4tcGFzcw==" not in md
    assert "Basic YWRt" in md  # masked, keeping its shape


def test_markup_from_the_wire_stays_text():
    md = render_markdown(hostile_trace())
    outside_fences = re.sub(r"```http\n.*?\n```", "", md, flags=re.S)
    assert "<script" not in outside_fences and "<img" not in outside_fences
    assert "&lt;script&gt;" in outside_fences
    assert PAYLOAD in md  # verbatim inside the fenced transcripts, where it is inert


def test_md_text_and_fence():
    assert md_text("a|b_c*<d>\nx") == r"a\|b\_c\*&lt;d&gt;<br>x"
    assert fence("x ``` y").startswith("````http\n")
    assert fence("plain").startswith("```http\n")
