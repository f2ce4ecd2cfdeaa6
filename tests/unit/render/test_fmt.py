from pulltrace.render import fmt

DIGEST = "sha256:5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3"


def test_human_bytes_and_ms():
    assert fmt.human_bytes(None) == ""
    assert fmt.human_bytes(0) == "0 B"
    assert fmt.human_bytes(1536) == "1.5 KiB"
    assert fmt.human_bytes(3 * 1024**3) == "3.0 GiB"
    assert fmt.human_ms(None) == ""
    assert fmt.human_ms(12.4) == "12 ms"
    assert fmt.human_ms(1250) == "1.25 s"


def test_middle_keeps_both_ends():
    assert fmt.middle("abcdefghij", 10) == "abcdefghij"
    cut = fmt.middle("abcdefghij", 5)
    assert len(cut) == 5 and cut.startswith("ab") and cut.endswith("ij") and "…" in cut


def test_short_digest_keeps_it_recognisable():
    assert fmt.short_digest(f"/v2/busybox/blobs/{DIGEST}") == "/v2/busybox/blobs/sha256:5b0d59026729…"
    # A storage path spells the digest bare.
    assert fmt.short_digest(f"/blobs/sha256/5b/{DIGEST[7:]}/data") == "/blobs/sha256/5b/5b0d59026729…/data"


def test_fit_url_drops_registry_host_and_fits():
    url = f"https://daocloud.io/v2/busybox/blobs/{DIGEST}"
    assert fmt.fit_url(url, 100, base_host="daocloud.io") == f"/v2/busybox/blobs/{DIGEST}"
    short = fmt.fit_url(url, 34, base_host="daocloud.io")
    assert len(short) <= 34
    assert "sha256:5b0d5902" in short and short.endswith("…")


def test_fit_url_decodes_query_and_cuts_it_from_the_end():
    url = "https://auth.docker.io/token?scope=repository%3Alibrary%2Falpine%3Apull&service=registry.docker.io"
    shown = fmt.fit_url(url, 60, base_host="registry-1.docker.io")
    assert shown.startswith("auth.docker.io/token?scope=repository:library/alpine:pull")
    assert len(shown) <= 60


def test_fit_url_always_fits():
    url = ("https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/dd/"
           + "d" * 64 + "/data?verify=…")
    for width in (12, 20, 33, 50):
        assert len(fmt.fit_url(url, width)) <= width


def test_pretty_body_only_touches_json():
    assert fmt.pretty_body('{"a":1}') == '{\n  "a": 1\n}'
    assert fmt.pretty_body("true") == "true"
    assert fmt.pretty_body("{broken") == "{broken"
    assert fmt.pretty_body(None) is None


def test_display_width_counts_wide_characters():
    assert fmt.display_width("步骤") == 4
    assert fmt.display_width("GET /v2/") == 8


def test_wrap_measures_display_width():
    lines = fmt.wrap("原因: " + "很长的中文句子" * 20, 40, "  ", "  ")
    assert all(fmt.display_width(line) <= 40 for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == ("原因:" + "很长的中文句子" * 20)
    assert fmt.wrap("a b c", 80, "- ", "  ") == ["- a b c"]
    assert fmt.wrap("x" * 30, 10, "", "") == ["x" * 10] * 3
    assert fmt.wrap("步步", 1) == ["步", "步"]


def test_short_client_names_the_product_and_its_major_minor_version():
    assert fmt.short_client("docker/20.10.24+dfsg1 (127.0.0.1)") == "docker 20.10"
    assert fmt.short_client("containerd/1.6.20~ds1 (127.0.0.1)") == "containerd 1.6"
    assert fmt.short_client("skopeo/1.9.3 (127.0.0.1)") == "skopeo 1.9"
    assert fmt.short_client("192.0.2.10") == "192.0.2.10"  # no User-Agent recorded: the peer


def test_terminal_safe_escapes_every_control_a_terminal_acts_on():
    assert fmt.terminal_safe("plain text, 中文") == "plain text, 中文"
    assert fmt.terminal_safe("a\x1b[2Jb\x07c\rd\x08e\x7ff\x9bg\x00h\th\ni") == (
        "a\\x1b[2Jb\\x07c\\rd\\x08e\\x7ff\\x9bg\\x00h\\th\\ni"
    )
    assert fmt.terminal_safe("evil\u202etxt.exe\u2066\u2069\u200f\u2028") == (
        "evil\\u202etxt.exe\\u2066\\u2069\\u200f\\u2028"
    )


def test_terminal_safe_for_a_page_keeps_line_ends_only():
    assert fmt.terminal_safe("a\nb\r\nc\rd\x1b", keep_newlines=True) == "a\nb\r\nc\\rd\\x1b"


def test_urls_that_do_not_split_are_shown_not_raised():
    assert fmt.host_of("https://h:abc/v2/") == ""
    assert fmt.path_of("https://[::1/v2/") == "https://[::1/v2/"
    assert fmt.host_of("https://user:secret@registry.test:5000/v2/") == "registry.test:5000"
    assert fmt.fit_url("https://h:abc/v2/x", 40) == "https://h:abc/v2/x"


def test_pretty_body_leaves_deep_json_as_it_is():
    deep = "[" * 1200 + "]" * 1200
    assert fmt.pretty_body(deep) == deep
