"""HTML (rendered in headless Chromium), Markdown with images, JSON against its schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from raytop.report import write_report
from raytop.report.json_report import load_schema

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.tags = [], {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster") and value is not None:
                self.urls.append(value)


@pytest.fixture
def html_report(workdir):
    out = write_report(workdir / "after.raytop", workdir / "report.html", None,
                       baseline=workdir / "before.raytop")
    return out


def test_html_is_self_contained(html_report):
    text = html_report.read_text(encoding="utf-8")
    p = _Links()
    p.feed(text)
    assert p.urls, "expected in-page links and chart references"
    assert all(u.startswith("#") for u in p.urls), [u for u in p.urls if not u.startswith("#")]
    assert not re.search(r"https?://|//cdn|@import|url\((?!#)", text)
    assert p.tags.get("script", 0) == 0 and p.tags.get("link", 0) == 0
    # every timeline of the "after" run has data except backpressure (none): 6 charts drawn,
    # plus the plan graph of its one dataset
    assert p.tags.get("svg", 0) == 7
    assert text.count('class="plangraph"') == 1
    assert "No operator was backpressured." in text
    for section in ("summary", "comparison", "suggestions", "timelines", "plan", "operators",
                    "datasets"):
        assert f'<section id="{section}">' in text
    assert "s3cret" not in text  # the recorder's redaction carries through
    assert "MapBatches(Model)" in text and "Spilled (max)" in text


def _pixel_spread(png: Path):
    from PIL import Image

    img = Image.open(png).convert("L")
    hist = img.histogram()
    pixels = sum(hist)
    mean = sum(i * n for i, n in enumerate(hist)) / pixels
    variance = sum(n * (i - mean) ** 2 for i, n in enumerate(hist)) / pixels
    dark = sum(hist[:160]) / pixels  # text, lines and badges
    return variance, dark


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_renders_in_headless_chromium(html_report, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1280,2000", html_report.as_uri()],
        check=True, timeout=120, capture_output=True)
    variance, dark = _pixel_spread(shot)
    assert variance > 100, "the screenshot is blank"
    assert 0.01 < dark < 0.5, f"expected dark text and lines on a light page ({dark:.3f})"


def test_markdown_images_exist(workdir):
    out = write_report(workdir / "before.raytop", workdir / "notes.md", None)
    text = out.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 7
    for rel in images:
        assert not rel.startswith(("/", "http")), rel
        png = workdir / rel
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(rel.startswith("notes_files/") for rel in images)
    assert "## Suggestions" in text and "| Operator |" in text and "## Summary" in text
    assert "spilling" in text


def test_json_validates_against_the_schema(workdir):
    out = write_report(workdir / "after.raytop", workdir / "r.json", None,
                       baseline=workdir / "before.raytop")
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    assert doc["schema"] == 1 and "comparison" in doc
    assert doc["plan"]["ds_1"]["groups"][0]["names"] == ["ReadRange", "MapBatches(pre)"]
    plain = json.loads(write_report(workdir / "before.raytop", workdir / "b.json", "json").read_text())
    jsonschema.validate(plain, load_schema(), cls=jsonschema.Draft202012Validator)
    assert "comparison" not in plain
    assert [e["kind"] for e in plain["events"]][:2] == ["dataset_started", "dataset_finished"]


def test_schema_rejects_a_made_up_field(workdir):
    doc = json.loads(write_report(workdir / "before.raytop", None, "json").read_text())
    doc["summary"]["rows_per_second"] = 1.0  # misspelled: the schema is strict on summary keys
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)


def test_every_schema_key_is_documented():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    schema = load_schema()
    keys = set(schema["properties"])
    for section in ("summary", "operator", "comparison", "dataset"):
        keys |= set(schema["$defs"][section]["properties"])
    missing = sorted(k for k in keys if f"`{k}`" not in docs)
    assert not missing, f"docs/report.md does not document {missing}"
