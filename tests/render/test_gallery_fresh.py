"""reports/ is the gallery of samples/: re-rendered in memory, it must equal the
files on disk. When it fails, run scripts/gallery and commit reports/."""

from devtools import gallery


def test_reports_are_fresh():
    files = gallery.render_gallery(gallery.SAMPLES)
    stale = gallery.stale_files(gallery.REPORTS, files)
    assert stale == [], f"reports are stale: {', '.join(stale)}; run scripts/gallery"


def test_every_sample_has_a_report():
    names = {gallery.report_name(p, gallery.SAMPLES) for p in gallery.sample_files(gallery.SAMPLES)}
    on_disk = {p.stem for p in gallery.REPORTS.glob("*.html")} - {"index"}
    assert names == on_disk
