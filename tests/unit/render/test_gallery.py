from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.model import write_atomically
from devtools import gallery


def _samples(tmp_path):
    samples = tmp_path / "samples"
    (samples / "seeds").mkdir(parents=True)
    write_atomically(samples / "seeds" / "000-daocloud.json", seed000_trace().to_json())
    write_atomically(samples / "hub.json", hub_alpine_trace().to_json())
    return samples


def test_gallery_names_and_index(tmp_path):
    files = gallery.render_gallery(_samples(tmp_path))
    assert sorted(files) == ["hub.html", "hub.md", "index.html", "seeds-000-daocloud.html", "seeds-000-daocloud.md"]
    assert 'href="seeds-000-daocloud.html"' in files["index.html"]
    # Deterministic and free of the machine's paths.
    assert gallery.render_gallery(_samples(tmp_path / "again")) == files
    assert not any(str(tmp_path) in text for text in files.values())


def test_write_then_check_then_stale(tmp_path, capsys):
    samples = _samples(tmp_path)
    out = tmp_path / "reports"
    assert gallery.main(["--samples", str(samples), "--out", str(out)]) == 0
    assert gallery.main(["--samples", str(samples), "--out", str(out), "--check"]) == 0
    (out / "hub.md").write_text("edited")
    (out / "old.html").write_text("left over")
    assert gallery.main(["--samples", str(samples), "--out", str(out), "--check"]) == 1
    assert "reports are stale: hub.md, old.html" in capsys.readouterr().err
    assert gallery.main(["--samples", str(samples), "--out", str(out)]) == 0
    assert not (out / "old.html").exists()
    assert gallery.main(["--samples", str(samples), "--out", str(out), "--check"]) == 0


def test_a_report_with_crlf_from_a_recorded_body_is_fresh_once_written(tmp_path):
    # nginx's HTML pages (a CDN's 307 body) end their lines with CRLF, kept as in the preview.
    samples = tmp_path / "samples"
    samples.mkdir()
    trace = hub_alpine_trace()
    step = next(s for s in trace.sessions[0].steps if s.exchange.response_body_preview)
    step.exchange.response_body_preview = "<html>\r\n<head><title>307 Temporary Redirect</title></head>\r\n</html>\r\n"
    write_atomically(samples / "hub.json", trace.to_json())
    out = tmp_path / "reports"
    files = gallery.render_gallery(samples)
    assert "\r\n" in files["hub.md"]
    gallery.write_gallery(out, files)
    assert gallery.stale_files(out, files) == []


def test_missing_samples_folder(tmp_path, capsys):
    assert gallery.main(["--samples", str(tmp_path / "none")]) == 1
    assert "no such folder of samples" in capsys.readouterr().err
