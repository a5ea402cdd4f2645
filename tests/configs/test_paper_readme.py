"""configs/paper/README.md's recipe tables are generated from the recipe headers
(benchmarks/paper_table.py): the committed README is what the generator writes, every paper recipe
cites the cells it reproduces in a header the generator reads, and a header edited without
regenerating the README fails."""

from __future__ import annotations

import re
import shutil

import pytest
from benchmarks.paper_table import PAPER, README, main, read_header, recipes, render_readme

from vemd.errors import ConfigError

VIDEO_VALUE = re.compile(r"[\d.]+ %|value unreadable in the source")


def test_readme_is_what_the_recipe_headers_generate():
    text = README.read_text(encoding="utf-8")
    assert render_readme(text) == text, "configs/paper/README.md: run python benchmarks/paper_table.py"


def test_every_paper_recipe_is_in_a_table_and_cites_a_cell():
    listed = {p for name in ("video", "multimodal") for p in recipes(PAPER, name)}
    every = {p for p in PAPER.rglob("*.yaml") if not p.name.startswith("_")}
    assert every - listed == set(PAPER.glob("systems/*.yaml"))
    for path in recipes(PAPER, "video"):
        for claim in read_header(path).claims:  # a recipe without a claim is an error
            assert VIDEO_VALUE.fullmatch(claim.value), (path, claim)


RECIPE = """\
# GAF-3.0 · VE-MD-SR-Heatmap, Face SR, raw SR
# paper T10 · Face: 89.60 %
# paper T5/T6 · VE-MD-SR-Heatmap: 89.60 % (a note)
base: paper/gaf3/_base
"""
MULTIMODAL = """\
# VGAF · audio: Whisper medium (frozen); fusion: late
# fusion (§7.1.2)
# paper Table 15 · Whisper · late fusion: Acc. Audio 65.79 %, Acc. Video 80.55 %, Acc. Fusion 81.20 %
# Video: the frozen VE-MD of paper/vgaf/ve-md-sr_heatmap_body-face_synthvit
base: [paper/vgaf/ve-md-sr_heatmap_body-face_synthvit, paper/multimodal/_base]
"""
DOC = """\
# Recipes

Prose written by hand.

<!-- generated: video by benchmarks/paper_table.py -->
stale
<!-- end generated: video -->

More prose.

<!-- generated: multimodal by benchmarks/paper_table.py -->
<!-- end generated: multimodal -->
"""


@pytest.fixture
def tree(tmp_path):
    """A recipe folder with one video and one multimodal recipe, a base and a system recipe, and
    a README with both blocks."""
    root = tmp_path / "paper"
    for rel, text in {
        "gaf3/ve-md-sr_heatmap_face.yaml": RECIPE,
        "gaf3/_base.yaml": "model: {}\n",
        "multimodal/vgaf/whisper_late.yaml": MULTIMODAL,
        "systems/abaw24_affwild2.yaml": "# ABAW 2024 system, its own paper\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "README.md").write_text(DOC)
    return root


def test_tables_are_one_row_per_cited_cell_and_the_prose_is_kept(tree):
    text = render_readme(DOC, tree)
    assert text.startswith("# Recipes\n\nProse written by hand.\n") and "\nMore prose.\n" in text
    assert "stale" not in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `gaf3/ve-md-sr_heatmap_face.yaml` | Table 10 · Face · GAF-3.0 | VE-MD-SR-Heatmap, Face SR, raw SR"
        " | 89.60 % |",
        "| `gaf3/ve-md-sr_heatmap_face.yaml` | Tables 5, 6 · VE-MD-SR-Heatmap · GAF-3.0 | VE-MD-SR-Heatmap,"
        " Face SR, raw SR | 89.60 % (a note) |",
        "| `multimodal/vgaf/whisper_late.yaml` | Table 15 · Whisper · late fusion · VGAF | audio: Whisper"
        " medium (frozen); fusion: late fusion (§7.1.2) | Acc. Audio 65.79 %, Acc. Video 80.55 %,"
        " Acc. Fusion 81.20 % |",
    ]
    assert render_readme(text, tree) == text  # generating twice changes nothing


def test_a_header_edited_without_regenerating_fails_the_check(tree, capsys):
    readme = tree / "README.md"
    args = ["--readme", str(readme), "--recipes", str(tree)]
    assert main(["--check", *args]) == 1  # the committed block is stale
    assert main(args) == 0 and main(["--check", *args]) == 0
    recipe = tree / "gaf3" / "ve-md-sr_heatmap_face.yaml"
    recipe.write_text(RECIPE.replace("T10 · Face: 89.60 %", "T10 · Face: 89.61 %"))
    capsys.readouterr()
    assert main(["--check", *args]) == 1
    assert capsys.readouterr().err.strip() == f"{readme}: out of date; run python benchmarks/paper_table.py"
    assert main(args) == 0 and "89.61 %" in readme.read_text()


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("# paper T10 · Face: 89.60 %\n", "the header's first line must read"),
        ("# GAF-3.0 · VE-MD-SR-Heatmap\n", "no '# paper <table> · <row>: <value>' line"),
        ("# GAF-3.0 · VE-MD-SR-Heatmap\n# paper Table ten · Face: 89.60 %\n", ":2: not '# paper <table>"),
    ],
)
def test_a_header_the_generator_cannot_read_is_a_one_line_error_naming_the_file(tree, header, problem):
    recipe = tree / "gaf3" / "ve-md-sr_heatmap_face.yaml"
    recipe.write_text(header + "base: paper/gaf3/_base\n")
    with pytest.raises(ConfigError, match=re.escape(problem)) as err:
        render_readme(DOC, tree)
    assert str(err.value).startswith(str(recipe)) and "\n" not in str(err.value)


def test_a_readme_without_its_blocks_is_refused(tree, capsys):
    readme = tree / "README.md"
    readme.write_text(DOC.split("<!-- generated: multimodal")[0])
    before = readme.read_text()
    assert main(["--readme", str(readme), "--recipes", str(tree)]) == 1
    err = capsys.readouterr().err.strip()
    assert f"{readme}: expected one '<!-- generated: NAME" in err and "found video" in err
    assert readme.read_text() == before


def test_the_generator_reads_the_real_headers(tmp_path):
    """The real README regenerated from a copy of the real recipes, one header changed: the copy's
    table changes in that row only."""
    copy = tmp_path / "paper"
    shutil.copytree(PAPER, copy)
    recipe = copy / "gaf3" / "ve-md-sr_personquery_body_q56_proj1.yaml"
    recipe.write_text(recipe.read_text().replace("Q_max: 82.65 %", "Q_max: 82.66 %"))
    text = README.read_text(encoding="utf-8")
    changed = set(render_readme(text, copy).splitlines()) ^ set(text.splitlines())
    assert len(changed) == 2 and all("ve-md-sr_personquery_body_q56_proj1" in line for line in changed)
